/**
 * The benchmark runner: `npm run bench` (which builds dist/ first).
 *
 * Three paths, each with its own table and its own reference for ratios. Over a Unix socket: for every
 * run, contender and scenario a fresh server process and a fresh client process (bench/lib/pair.js),
 * talking over a socket in a temporary directory. Over a port: a fresh client process that starts its
 * server in a Worker and talks to it over a worker_threads MessageChannel (bench/lib/ports.js). Over
 * NATS: a fresh server process and a fresh client process, talking through the one nats-server the
 * runner starts for the run (bench/lib/nats-broker.js); left out, and said so, when there is no
 * nats-server on PATH or in /usr/sbin. It prints a markdown table per path of medians over the runs,
 * with ratios to the path's raw reference (bench/lib/report.js), and writes bench/results.json with
 * every run.
 *
 * Environment:
 *   BENCH_QUICK=1           smoke run: one run, small counts (about a minute)
 *   BENCH_RUNS=n            runs per contender and scenario (default 5; 1 with BENCH_QUICK)
 *   BENCH_ECHO_RUNS=n       runs of the echo, 16 MiB (1 MiB over NATS) (default 5, or BENCH_RUNS if more; BENCH_RUNS with BENCH_QUICK)
 *   BENCH_ONLY=a,b          only these contenders, or `sockets` / `ports` / `nats` for all of a path (each
 *                           path's reference, raw-socket, port-raw or nats-plain, is always added: ratios need it)
 *   BENCH_SCENARIOS=a,b     only these of latency, throughput, structured, bandwidth, memory
 *   BENCH_PIN=same|split|none  one CPU placement for every scenario (default: see defaultPlacement)
 *   BENCH_NATS_SERVER=path  the nats-server to start (default: the one on PATH or in /usr/sbin); empty:
 *                           none, the NATS contenders are left out
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, release, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findNatsServer, startBroker } from './lib/nats-broker.js'
import { contenders, runPair, scenariosOf } from './lib/pair.js'
import { evaluateTargets, faultFits, figures, pathTitles, references, renderFaultFits, renderNotes, renderTable, summarise } from './lib/report.js'

const MiB = 1024 * 1024
const quick = process.env.BENCH_QUICK === '1'

/**
 * Scenario parameters. Full: about 15 minutes on 2 cores with 5 runs; quick: about a minute.
 * The latency warm-up stays full-size in the quick run: with a few hundred calls the JIT is not done
 * and p50 doubles.
 */
const callsPerSecond = quick ? { inflight: 64, warmupMs: 300, durationMs: 300 } : { inflight: 64, warmupMs: 400, durationMs: 1500 }
const scenarioOptions = {
  latency: quick ? { size: 32, warmup: 2000, calls: 3000, maxMs: 1000 } : { size: 32, warmup: 2000, calls: 10_000, maxMs: 3000 },
  throughput: { size: 32, ...callsPerSecond },
  structured: callsPerSecond,
  // The echo is timed after 1 s of echoes, over 1 s of echoes (NATS: counts of its own, below): the
  // first few of a fresh pair of processes grow both heaps to their working size, a fresh page at a
  // time (bench/README.md, "The 16 MiB echo"). That is the first echo column, not the bandwidth.
  bandwidth: quick ? { size: 16 * MiB, warmup: 1, reps: 1 } : { size: 16 * MiB, warmup: 1, warmupMs: 1000, reps: 5, repsMs: 1000 },
  memory: quick ? { size: 32, inflight: 64, warmup: 2000, calls: 5000 } : { size: 32, inflight: 64, warmup: 2000, calls: 20_000 },
}

/**
 * Where a path's scenarios differ: over NATS the echo is of 1 MiB, the broker's default max_payload
 * (16 MiB would only measure the broker's piecing), and being short it gets more echoes per run. Its
 * calls/s are counted after 2 s of warm-up, for every NATS contender alike: both sides of a NATS pair
 * compile the nats client's parser as well, and 0.4 s into the run they were still compiling 16-217 ms
 * in every 250 ms (bench/README.md, "Where the time goes over NATS"); 0.4 s would time the JIT.
 */
const natsCallsPerSecond = quick ? callsPerSecond : { ...callsPerSecond, warmupMs: 2000 }
const pathScenarioOptions = {
  nats: {
    bandwidth: quick ? { size: MiB, warmup: 2, reps: 5 } : { size: MiB, warmup: 3, reps: 15 },
    throughput: { size: 32, ...natsCallsPerSecond },
  },
}
const optionsFor = (contender, scenario) => pathScenarioOptions[contender.path]?.[scenario] ?? scenarioOptions[scenario]
const echoSizeOf = (path) => (pathScenarioOptions[path]?.bandwidth ?? scenarioOptions.bandwidth).size

const runs = Number(process.env.BENCH_RUNS ?? (quick ? 1 : 5))
// The 16 MiB echo varies most from run to run (bench/README.md, "The 16 MiB echo"): at least 5 runs
// even when BENCH_RUNS asks for fewer, unless the run is a quick one or BENCH_ECHO_RUNS says otherwise.
const echoRuns = Number(process.env.BENCH_ECHO_RUNS ?? (quick ? runs : Math.max(runs, 5)))
const runsOf = (scenario) => (scenario === 'bandwidth' ? echoRuns : runs)
const scenarioNames = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim()) ?? Object.keys(scenarioOptions)
for (const name of scenarioNames) if (!scenarioOptions[name]) throw new Error(`unknown scenario ${name} in BENCH_SCENARIOS`)

const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim())
const groups = { sockets: 'socket', ports: 'port', nats: 'nats' }
for (const name of only ?? [])
  if (!groups[name] && !contenders.some((c) => c.name === name)) throw new Error(`unknown contender ${name} in BENCH_ONLY`)
const wanted = (c) => !only || only.includes(c.name) || only.some((name) => groups[name] === c.path)
const chosen = contenders.filter(
  (c) =>
    (wanted(c) || (c.name === references[c.path] && contenders.some((other) => other.path === c.path && wanted(other)))) &&
    scenariosOf(c).some((s) => scenarioNames.includes(s)),
)
const natsServer = process.env.BENCH_NATS_SERVER === undefined ? findNatsServer() : process.env.BENCH_NATS_SERVER || undefined
/** Why the NATS contenders cannot run here, if they cannot. */
const natsMissing = await (async () => {
  if (process.env.BENCH_NATS_SERVER === '') return 'BENCH_NATS_SERVER is empty'
  if (!natsServer) return 'no nats-server on PATH or in /usr/sbin'
  const client = await import('nats').then(
    () => true,
    () => false,
  )
  return client ? undefined : 'the nats client is not installed (npm install nats)'
})()
/** Contenders that need something this machine or dist/ does not have, and why: [{ contender, reason }]. */
const leftOut = []
const selected = []
for (const contender of chosen) {
  const reason = contender.path === 'nats' ? natsMissing : contender.available && !(await contender.available()) ? contender.unavailable : undefined
  if (reason === undefined) selected.push(contender)
  else leftOut.push({ contender, reason })
}

/**
 * Where the server and the client run, per scenario. On a small VM the scheduler sometimes puts a
 * ping-pong pair on one CPU and sometimes on two, and a sequential round trip differs threefold between
 * the two (a vCPU woken from idle costs tens of microseconds), so latency is measured with both pinned
 * to one CPU ('same'): repeatable, and it shows the software cost of a call. The other scenarios are
 * left to the OS ('none'): with 64 calls in flight or a 16 MiB echo, two CPUs working at once is what
 * is being measured, and on one CPU an uncoalesced writer turns into a context-switch storm.
 * BENCH_PIN=same|split|none forces one placement for every scenario ('split': server on CPU 1,
 * client on CPU 0).
 */
let warnedUnpinned = false
const defaultPlacement = { latency: 'same', throughput: 'none', structured: 'none', bandwidth: 'none', memory: 'none' }
const placement = Object.fromEntries(
  Object.entries(defaultPlacement).map(([scenario, mode]) => [scenario, usablePinMode(process.env.BENCH_PIN ?? mode)]),
)
const pinFor = (scenario) => ({ split: { server: 1, client: 0 }, same: { server: 0, client: 0 }, none: undefined })[placement[scenario]]

function usablePinMode(mode) {
  if (!['same', 'split', 'none'].includes(mode)) throw new Error(`BENCH_PIN must be same, split or none, not ${mode}`)
  if (mode === 'none') return mode
  let usable = process.platform === 'linux'
  try {
    if (usable) execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
  } catch {
    usable = false
  }
  if (!usable || (mode === 'split' && availableParallelism() < 2)) {
    if (!warnedUnpinned)
      process.stderr.write(`CPU pinning '${mode}' needs Linux, taskset${mode === 'split' ? ' and 2 CPUs' : ''}: running unpinned\n`)
    warnedUnpinned = true
    return 'none'
  }
  return mode
}

/**
 * The broker relays every message of a NATS pair: where the pair shares one CPU ('same', latency) it
 * goes there too. Left to the OS, each hop would wake the other CPU (ipc-channel's p50 331 and 332 µs
 * in two runs, against 262 and 265 with the broker pinned with the pair, loaded machine; 207 and 322
 * with nothing pinned). Otherwise it is left to the OS.
 */
function pinBroker(broker, scenario) {
  broker.pin(placement[scenario] === 'same' ? 0 : undefined)
}

/** Every cell, interleaved: every contender once, then again, so that drift spreads over all of them. */
function cells() {
  const list = []
  const rounds = Math.max(...scenarioNames.map(runsOf))
  for (let run = 1; run <= rounds; run++) {
    for (const contender of selected) {
      for (const scenario of scenarioNames) {
        if (run <= runsOf(scenario) && scenariosOf(contender).includes(scenario)) list.push({ run, contender, scenario })
      }
    }
  }
  return list
}

/** Starts the run's nats-server if a NATS contender is to run; one that fails to start leaves them out. */
async function startNatsBroker(errors) {
  if (!selected.some((c) => c.path === 'nats')) return undefined
  try {
    const broker = await startBroker(natsServer)
    process.stderr.write(`${broker.version} (pid ${broker.pid}) listening on 127.0.0.1:${broker.port}\n`)
    return broker
  } catch (error) {
    const message = String(error?.message ?? error)
    errors.push({ contender: 'nats-server', scenario: 'start', run: 0, message })
    for (const contender of selected.filter((c) => c.path === 'nats')) {
      selected.splice(selected.indexOf(contender), 1)
      leftOut.push({ contender, reason: `nats-server did not start: ${message}` })
    }
    return undefined
  }
}

async function main() {
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'ipc-bench-'))
  const perRun = {} // contender -> scenario -> [figures per run]
  const errors = []
  const broker = await startNatsBroker(errors)
  const paths = Object.keys(references).filter((path) => selected.some((c) => c.path === path))
  const todo = cells()
  let done = 0
  try {
    for (const { run, contender, scenario } of todo) {
      const t0 = Date.now()
      let note
      try {
        const settings = { dir, timeoutMs: 90_000, pin: pinFor(scenario), broker }
        if (contender.path === 'nats') pinBroker(broker, scenario)
        const outcome = await runPair(contender, scenario, optionsFor(contender, scenario), settings)
        const entry = figures(scenario, outcome)
        ;((perRun[contender.name] ??= {})[scenario] ??= []).push({ ...entry, raw: outcome })
        note = Object.entries(entry)
          .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(2) : v}`)
          .join(' ')
      } catch (error) {
        errors.push({ contender: contender.name, scenario, run, message: String(error?.message ?? error) })
        note = `FAILED: ${error?.message ?? error}`
      }
      done++
      process.stderr.write(
        `[${done}/${todo.length}] run ${run} ${contender.name.padEnd(17)} ${scenario.padEnd(10)} ${((Date.now() - t0) / 1000).toFixed(1)}s  ${note}\n`,
      )
    }
  } finally {
    await broker?.stop()
    rmSync(dir, { recursive: true, force: true })
  }

  const summary = summarise(selected, perRun)
  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${release()} ${process.arch}`,
  }
  const date = new Date().toISOString()
  const revision = gitRevision()
  const targets = evaluateTargets(summary)
  const elapsed = (Date.now() - started) / 1000
  const tableOptions = { scenarioNames, runsOf, memoryCalls: scenarioOptions.memory.calls, scenariosOf, selected }
  const natsBroker = broker && { version: broker.version, maxPayload: broker.maxPayload, slowConsumers: broker.slowConsumers() }

  const out = []
  out.push(`ipc-channel at ${revision}.`)
  out.push(`Machine: ${machine.nproc} CPUs (${machine.cpu}), Node ${machine.node}, ${machine.platform}; ${date.slice(0, 10)}.`)
  out.push(
    `Medians of ${runs} run(s) per contender and scenario, ${echoRuns} for the echoes${quick ? ' (BENCH_QUICK)' : ''}; CPU placement: ${Object.entries(
      placement,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; total ${elapsed.toFixed(0)} s.`,
  )
  const fits = faultFits(perRun, selected)
  for (const path of paths) {
    const echoSize = echoSizeOf(path)
    out.push('', `${pathTitles[path]}:`, '', renderTable(summary, path, { ...tableOptions, echoSize }))
    const faultLine = renderFaultFits(
      fits,
      selected.filter((c) => c.path === path),
      echoSize,
    )
    if (faultLine) out.push('', faultLine)
    out.push('', renderNotes(selected, path))
    if (path === 'nats' && natsBroker) {
      const slow = natsBroker.slowConsumers ? `; it logged ${natsBroker.slowConsumers} slow-consumer warning(s)` : ''
      const pinned = Object.keys(placement).filter((scenario) => placement[scenario] === 'same')
      const where = pinned.length ? `pinned with the pair in ${pinned.join(', ')}, else unpinned` : 'unpinned'
      out.push(`- broker: ${natsBroker.version}, default settings (max_payload ${natsBroker.maxPayload} bytes), ${where}${slow}`)
    }
  }
  if (leftOut.length) {
    out.push('')
    for (const { contender, reason } of leftOut) out.push(`Left out: ${contender.name} (${contender.label}): ${reason}.`)
  }
  if (targets.length) {
    out.push('')
    out.push('ipc-channel against its targets:')
    for (const t of targets) out.push(`- ${t.ok ? 'MET ' : 'MISS'} ${t.text}`)
  }
  if (errors.length) {
    out.push('')
    out.push('Failures:')
    for (const e of errors) out.push(`- ${e.contender} ${e.scenario} (run ${e.run}): ${e.message}`)
  }
  console.log(out.join('\n'))

  const resultsPath = fileURLToPath(new URL('./results.json', import.meta.url))
  writeFileSync(
    resultsPath,
    JSON.stringify(
      {
        date,
        revision,
        machine,
        quick,
        runs,
        echoRuns,
        placement,
        elapsedSeconds: elapsed,
        scenarios: scenarioOptions,
        pathScenarios: pathScenarioOptions,
        natsBroker,
        leftOut: leftOut.map(({ contender, reason }) => ({ name: contender.name, reason })),
        summary,
        faultFits: fits,
        targets,
        errors,
        perRun,
      },
      null,
      2,
    ) + '\n',
  )
  console.error(`\nwrote ${resultsPath}`)
  if (errors.length) process.exitCode = 1
}

/** The commit measured, and whether src/ differed from it. */
function gitRevision() {
  try {
    const cwd = fileURLToPath(new URL('..', import.meta.url))
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd, encoding: 'utf8' }).trim()
    return dirty ? `${head} with uncommitted changes in src/` : head
  } catch {
    return 'an unknown revision'
  }
}

await main()
