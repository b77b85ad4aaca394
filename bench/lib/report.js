/**
 * What the runner (bench/run.js) makes of the runs: the summary of each contender (medians over runs,
 * the 16 MiB echo's min and max, ratios to its path's reference), one markdown table per path, what a
 * page fault costs the echo, and ipc-channel against its targets.
 */

const MiB = 1024 * 1024

/** The contender each path's ratios are taken against. */
export const references = { socket: 'raw-socket', port: 'port-raw', nats: 'nats-plain' }

export const pathTitles = {
  socket: 'Over a Unix socket',
  port: 'Over a worker_threads MessageChannel',
  nats: 'Over NATS, through one nats-server on the loopback',
}

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The figures each scenario contributes to the table, from one pair's outcome. */
export function figures(scenario, outcome) {
  const { result, samples } = outcome
  switch (scenario) {
    case 'latency':
      return { p50Us: result.p50Us, p99Us: result.p99Us }
    case 'throughput':
      return { callsPerSec: result.callsPerSec }
    case 'structured':
      return { structuredPerSec: result.callsPerSec, dateAs: result.dateAs }
    case 'bandwidth':
      return { echoMs: result.medianMs, mibPerSec: result.mibPerSec, faultsPerEcho: result.faultsPerEcho, firstEchoMs: result.warmupTimes[0] }
    case 'memory':
      return {
        rssGrowthMiB: (samples.after.rss - samples.before.rss) / MiB,
        heapGrowthMiB: (samples.after.heapUsed - samples.before.heapUsed) / MiB,
        memoryCalls: result.calls,
      }
  }
}

/**
 * One row per contender: the median over runs of each figure (a text figure: the first run's), the
 * 16 MiB echo's fastest and slowest run and its spread ((max - min) / median), and ratios to the
 * reference of the contender's path. `perRun`: contender -> scenario -> [figures of each run].
 */
export function summarise(selected, perRun) {
  const summary = {}
  for (const contender of selected) {
    const row = (summary[contender.name] = { path: contender.path, kind: contender.kind, label: contender.label })
    for (const list of Object.values(perRun[contender.name] ?? {})) {
      for (const key of Object.keys(list[0])) {
        if (key === 'raw') continue
        row[key] = typeof list[0][key] === 'string' ? list[0][key] : median(list.map((entry) => entry[key]))
      }
    }
    const echoes = (perRun[contender.name]?.bandwidth ?? []).map((entry) => entry.echoMs)
    if (echoes.length) {
      row.echoRuns = echoes.length
      row.echoMinMs = Math.min(...echoes)
      row.echoMaxMs = Math.max(...echoes)
      row.echoSpread = (row.echoMaxMs - row.echoMinMs) / row.echoMs
    }
  }
  for (const row of Object.values(summary)) {
    const ref = summary[references[row.path]] ?? {}
    row.p50Ratio = row.p50Us / ref.p50Us
    row.p99Ratio = row.p99Us / ref.p99Us
    row.throughputRatio = row.callsPerSec / ref.callsPerSec
    row.structuredRatio = row.structuredPerSec / ref.structuredPerSec
    row.bandwidthRatio = row.mibPerSec / ref.mibPerSec
  }
  return summary
}

const fmt = {
  us: (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a'),
  ratio: (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a'),
  int: (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'),
  // Two significant digits below 1 ms: a transfer's echo takes hundredths of one.
  ms: (v) => (Number.isFinite(v) ? (v < 1 ? String(+v.toPrecision(2)) : v.toFixed(1)) : 'n/a'),
  mib: (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a'),
}

/** The record's Date came back as a string: the contender speaks JSON. */
const DATE_AS_STRING = '†'

/** The echo's median over runs, with the fastest and the slowest run where there were several. */
function echoCell(row) {
  const median = fmt.ms(row.echoMs)
  return row.echoRuns > 1 ? `${median} (${fmt.ms(row.echoMinMs)}-${fmt.ms(row.echoMaxMs)})` : median
}

/** 16 MiB, 1 MiB, 512 KiB: the size of the echo, for a heading. */
function sizeText(bytes) {
  return bytes >= MiB ? `${+(bytes / MiB).toFixed(1)} MiB` : `${+(bytes / 1024).toFixed(1)} KiB`
}

/** The table's columns: [heading, scenario, cell(row)]. */
function columns(memoryCalls, echoSize) {
  return [
    ['p50 µs', 'latency', (row) => fmt.us(row.p50Us)],
    ['p50 ×raw', 'latency', (row) => fmt.ratio(row.p50Ratio)],
    ['p99 µs', 'latency', (row) => fmt.us(row.p99Us)],
    ['p99 ×raw', 'latency', (row) => fmt.ratio(row.p99Ratio)],
    ['calls/s (64 in flight)', 'throughput', (row) => fmt.int(row.callsPerSec)],
    ['×raw', 'throughput', (row) => fmt.ratio(row.throughputRatio)],
    ['20-field object, calls/s', 'structured', (row) => `${fmt.int(row.structuredPerSec)}${row.dateAs === 'string' ? ` ${DATE_AS_STRING}` : ''}`],
    ['×raw', 'structured', (row) => fmt.ratio(row.structuredRatio)],
    [`${sizeText(echoSize)} echo ms, median (min-max)`, 'bandwidth', echoCell],
    ['first echo ms', 'bandwidth', (row) => fmt.ms(row.firstEchoMs)],
    ['bandwidth ×raw', 'bandwidth', (row) => fmt.ratio(row.bandwidthRatio)],
    [`server RSS Δ MiB (${memoryCalls.toLocaleString('en-US')} calls)`, 'memory', (row) => fmt.mib(row.rssGrowthMiB)],
  ]
}

/**
 * The markdown table of one path: the columns of the scenarios that ran on it, a row per contender;
 * a contender's cell is empty where it does not run that scenario, n/a where it failed. `echoSize`:
 * the bytes of the path's echo.
 */
export function renderTable(summary, path, { scenarioNames, runsOf, memoryCalls, echoSize, scenariosOf, selected }) {
  const contenders = selected.filter((c) => c.path === path)
  const ran = new Set(contenders.flatMap((c) => scenariosOf(c)).filter((s) => scenarioNames.includes(s)))
  const shown = columns(memoryCalls, echoSize).filter(([, scenario]) => ran.has(scenario))
  const head = ['contender', ...shown.map(([heading]) => heading)]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ':---' : '---:')).join('|')}|`]
  for (const contender of contenders) {
    const row = summary[contender.name]
    const runsHere = scenariosOf(contender)
    const cells = shown.map(([, scenario, cell]) => (runsHere.includes(scenario) ? cell(row) : ''))
    lines.push(`| ${row.kind === 'subject' ? `**${contender.name}**` : contender.name} | ${cells.join(' | ')} |`)
  }
  const notes = [`×raw: against ${references[path]}.`]
  if (ran.has('bandwidth'))
    notes.push(
      `${sizeText(echoSize)} echo: median of ${runsOf('bandwidth')} run(s), each the median of its echoes after warm-up; first echo: the first of each run's fresh pair (two processes, or a process and its Worker), median of the runs.`,
    )
  if (contenders.some((c) => summary[c.name].dateAs === 'string'))
    notes.push(`${DATE_AS_STRING} JSON has no Date: the record's Date left and came back as an ISO string.`)
  return `${lines.join('\n')}\n\n${notes.join(' ')}`
}

/**
 * For each contender, a least-squares line through its timed 16 MiB echoes (warm-ups left out):
 * milliseconds against the minor page faults of both sides during the echo. The slope is what a fault
 * costs; r says how much of the echo's variation the faults explain. None for a contender whose
 * echoes fault about as often as each other (a transfer): there is no variation to explain.
 */
export function faultFits(perRun, selected) {
  const fits = {}
  for (const contender of selected) {
    const points = []
    for (const { raw } of perRun[contender.name]?.bandwidth ?? []) {
      const { times, clientFaults, serverFaults } = raw.result
      times.forEach((ms, i) => points.push([clientFaults[i] + (serverFaults[i] ?? 0), ms]))
    }
    const fit = leastSquares(points)
    if (fit) fits[contender.name] = fit
  }
  return fits
}

/** Fewer faults apart than this between a contender's echoes (4 MiB of pages) make no line. */
const MIN_FAULT_RANGE = 1024

function leastSquares(points) {
  const n = points.length
  const faults = points.map((p) => p[0])
  if (n < 3 || Math.max(...faults) - Math.min(...faults) < MIN_FAULT_RANGE) return undefined
  const mean = (f) => points.reduce((sum, p) => sum + f(p), 0) / n
  const [mx, my] = [mean((p) => p[0]), mean((p) => p[1])]
  const sxx = mean((p) => (p[0] - mx) ** 2)
  const syy = mean((p) => (p[1] - my) ** 2)
  const sxy = mean((p) => (p[0] - mx) * (p[1] - my))
  if (sxx === 0 || syy === 0) return undefined
  const slope = sxy / sxx
  return { echoes: n, usPerFault: slope * 1000, msAtNoFault: my - slope * mx, r: sxy / Math.sqrt(sxx * syy) }
}

/** The fits of `contenders`, whose echo is of `echoSize` bytes, in one line, or undefined if none has one. */
export function renderFaultFits(fits, contenders, echoSize) {
  const each = contenders
    .filter((c) => fits[c.name])
    .map(({ name }) => {
      const fit = fits[name]
      return `${name} ${fit.msAtNoFault.toFixed(1)} ms + ${fit.usPerFault.toFixed(1)} µs/fault (r ${fit.r.toFixed(2)}, ${fit.echoes} echoes)`
    })
  if (each.length === 0) return undefined
  return `${sizeText(echoSize)} echo time against the minor page faults of both sides during it, least squares per contender: ${each.join('; ')}.`
}

export function renderNotes(selected, path) {
  return selected
    .filter((c) => c.path === path)
    .map((c) => `- ${c.name}: ${c.label}${c.kind === 'peer' ? ' (peer)' : ''}`)
    .join('\n')
}

/**
 * ipc-channel's targets on each path (the socket ones of the first round, tightened where issue 13
 * tightened them; the port ones of issue 13; the NATS one of issue 17). A target whose figures did not
 * run is left out.
 */
export function evaluateTargets(summary) {
  const targets = []
  const add = (value, text, ok) => {
    if (Number.isFinite(value)) targets.push({ text, ok })
  }
  const subject = summary['ipc-channel']
  const raw = summary['raw-socket']
  if (subject && raw) {
    // The coalesced limit is the faster of the two coalescing raw sockets: raw-batched, which sends a
    // tick's frames in one buffer as ipc-channel does, when it ran.
    const coalescedName = summary['raw-batched'] ? 'raw-batched' : 'raw-coalesced'
    const vsCoalesced = subject.callsPerSec / summary[coalescedName]?.callsPerSec
    const peers = Object.entries(summary).filter(([, row]) => row.path === 'socket' && row.kind === 'peer' && Number.isFinite(row.callsPerSec))
    const best = peers.reduce((a, b) => (b[1].callsPerSec > (a?.[1].callsPerSec ?? -1) ? b : a), undefined)
    add(subject.p50Ratio, `sockets: p50 latency ${fmt.ratio(subject.p50Ratio)} raw (target <= 1.10x)`, subject.p50Ratio <= 1.1)
    add(subject.p99Ratio, `sockets: p99 latency ${fmt.ratio(subject.p99Ratio)} raw (target <= 2x)`, subject.p99Ratio <= 2)
    add(
      subject.throughputRatio,
      `sockets: calls/s with 64 in flight ${fmt.ratio(subject.throughputRatio)} raw-socket, uncoalesced (target >= 1.0x)`,
      subject.throughputRatio >= 1,
    )
    add(vsCoalesced, `sockets: calls/s ${fmt.ratio(vsCoalesced)} ${coalescedName} (target >= 0.5x)`, vsCoalesced >= 0.5)
    if (best) {
      const vsBest = subject.callsPerSec / best[1].callsPerSec
      add(vsBest, `sockets: calls/s ${fmt.ratio(vsBest)} the best peer, ${best[0]} (target >= 2x)`, vsBest >= 2)
    }
    add(
      subject.bandwidthRatio,
      `sockets: 16 MiB echo bandwidth ${fmt.ratio(subject.bandwidthRatio)} raw (target >= 0.9x)`,
      subject.bandwidthRatio >= 0.9,
    )
    if (subject.echoRuns > 1) {
      const spread = `${(subject.echoSpread * 100).toFixed(0)}%`
      add(
        subject.echoSpread,
        `sockets: 16 MiB echo spread ${spread} over ${subject.echoRuns} runs, (max - min) / median (target <= 30%)`,
        subject.echoSpread <= 0.3,
      )
    }
  }
  const port = summary['port-ipc-channel']
  if (port && summary['port-raw']) {
    add(port.p50Ratio, `ports: p50 latency ${fmt.ratio(port.p50Ratio)} raw postMessage (target <= 1.10x)`, port.p50Ratio <= 1.1)
    add(
      port.throughputRatio,
      `ports: calls/s with 64 in flight ${fmt.ratio(port.throughputRatio)} raw postMessage, one post per call (target >= 1.0x)`,
      port.throughputRatio >= 1,
    )
    const vsBirpc = port.structuredPerSec / summary['port-birpc']?.structuredPerSec
    add(vsBirpc, `ports: 20-field object calls/s ${fmt.ratio(vsBirpc)} birpc (target >= 1.0x)`, vsBirpc >= 1)
  }
  const nats = summary['nats-ipc-channel']
  if (nats && summary['nats-plain']) {
    add(
      nats.throughputRatio,
      `NATS: calls/s with 64 in flight ${fmt.ratio(nats.throughputRatio)} plain publishes with correlation ids (target >= 0.9x)`,
      nats.throughputRatio >= 0.9,
    )
  }
  const transfer = summary['port-ipc-channel-transfer']?.echoMs / summary['port-raw-transfer']?.echoMs
  add(transfer, `ports: 16 MiB echo with transfer() ${fmt.ratio(transfer)} the time of raw transfer (target <= 2x)`, transfer <= 2)
  return targets
}
