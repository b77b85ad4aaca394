/**
 * What the runner (bench/run.js) makes of the runs: the summary of each contender (medians over runs,
 * ratios to the raw socket), the markdown table, and ipc-channel against its targets.
 */

const MiB = 1024 * 1024

/** The contender the ratios are taken against. */
export const REFERENCE = 'raw-socket'

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The figure each scenario contributes to the table, from one pair's outcome. */
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
      return { echoMs: result.medianMs, mibPerSec: result.mibPerSec }
    case 'memory':
      return {
        rssGrowthMiB: (samples.after.rss - samples.before.rss) / MiB,
        heapGrowthMiB: (samples.after.heapUsed - samples.before.heapUsed) / MiB,
        memoryCalls: result.calls,
      }
  }
}

/**
 * One row per contender: the median over runs of each figure (a text figure: the first run's), and
 * ratios to the raw socket. `perRun`: contender -> scenario -> [figures of each run].
 */
export function summarise(selected, perRun) {
  const summary = {}
  for (const contender of selected) {
    const row = (summary[contender.name] = { kind: contender.kind, label: contender.label })
    for (const list of Object.values(perRun[contender.name] ?? {})) {
      for (const key of Object.keys(list[0])) {
        if (key === 'raw') continue
        row[key] = typeof list[0][key] === 'string' ? list[0][key] : median(list.map((entry) => entry[key]))
      }
    }
  }
  const ref = summary[REFERENCE] ?? {}
  for (const row of Object.values(summary)) {
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
  ms: (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a'),
  mib: (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a'),
}

/** The record's Date came back as a string: the contender speaks JSON. */
const DATE_AS_STRING = '†'

export function renderTable(summary, memoryCalls) {
  const head = [
    'contender',
    'p50 µs',
    'p50 ×raw',
    'p99 µs',
    'p99 ×raw',
    'calls/s (64 in flight)',
    '×raw',
    '20-field object, calls/s',
    '×raw',
    '16 MiB echo ms',
    'bandwidth ×raw',
    `server RSS Δ MiB (${memoryCalls.toLocaleString('en-US')} calls)`,
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ':---' : '---:')).join('|')}|`]
  for (const [name, row] of Object.entries(summary)) {
    const cells = [
      row.kind === 'subject' ? `**${name}**` : name,
      fmt.us(row.p50Us),
      fmt.ratio(row.p50Ratio),
      fmt.us(row.p99Us),
      fmt.ratio(row.p99Ratio),
      fmt.int(row.callsPerSec),
      fmt.ratio(row.throughputRatio),
      `${fmt.int(row.structuredPerSec)}${row.dateAs === 'string' ? ` ${DATE_AS_STRING}` : ''}`,
      fmt.ratio(row.structuredRatio),
      fmt.ms(row.echoMs),
      fmt.ratio(row.bandwidthRatio),
      fmt.mib(row.rssGrowthMiB),
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  if (Object.values(summary).some((row) => row.dateAs === 'string'))
    lines.push('', `${DATE_AS_STRING} JSON has no Date: the record's Date left and came back as an ISO string.`)
  return lines.join('\n')
}

export function renderNotes(selected) {
  return selected.map((c) => `- ${c.name}: ${c.label}${c.kind === 'peer' ? ' (peer)' : ''}`).join('\n')
}

export function evaluateTargets(summary) {
  const subject = summary['ipc-channel']
  if (!subject || !summary[REFERENCE]) return []
  const peers = Object.entries(summary).filter(([, row]) => row.kind === 'peer' && Number.isFinite(row.callsPerSec))
  const best = peers.reduce((a, b) => (b[1].callsPerSec > (a?.[1].callsPerSec ?? -1) ? b : a), undefined)
  const targets = [
    { text: `p50 latency ${fmt.ratio(subject.p50Ratio)} raw (target <= 1.15x)`, ok: subject.p50Ratio <= 1.15 },
    { text: `p99 latency ${fmt.ratio(subject.p99Ratio)} raw (target <= 2x)`, ok: subject.p99Ratio <= 2 },
    {
      text: `calls/s with 64 in flight ${fmt.ratio(subject.throughputRatio)} raw-socket, uncoalesced (target >= 1.0x)`,
      ok: subject.throughputRatio >= 1,
    },
  ]
  if (best) {
    const vsBest = subject.callsPerSec / best[1].callsPerSec
    targets.push({ text: `calls/s ${fmt.ratio(vsBest)} the best peer, ${best[0]} (target >= 2x)`, ok: vsBest >= 2 })
  }
  targets.push({ text: `16 MiB echo bandwidth ${fmt.ratio(subject.bandwidthRatio)} raw (target >= 0.8x)`, ok: subject.bandwidthRatio >= 0.8 })
  return targets
}
