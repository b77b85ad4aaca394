/**
 * CPU profile of ipc-channel in the throughput scenario: `npm run build && node bench/profile.js`.
 *
 * Runs one longer throughput pair (64 calls in flight, 32-byte argument; or PROFILE_SCENARIO=structured, the
 * same with the 20-field record; or PROFILE_SCENARIO=bandwidth,
 * twelve 16 MiB echoes; or PROFILE_SCENARIO=latency, sequential calls) with `node --cpu-prof` on the
 * server and on the client, writes the .cpuprofile files to a temporary directory (printed; open them
 * in Chrome DevTools or VS Code), and prints for each side the functions with the most self time, the
 * same with total (inclusive) time, and self time per package. Locations in dist/ are mapped back to
 * src/ through the source maps.
 *
 * Environment: PROFILE_SCENARIO (default throughput), PROFILE_SECONDS (default 4), PROFILE_TOP
 * (default 20), PROFILE_CONTENDER (default ipc-channel; any name from bench/lib/pair.js). A NATS
 * contender (nats-ipc-channel, nats-plain, nats-request) gets a nats-server of its own, and its echo
 * is of 1 MiB; the broker itself is not profiled.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findNatsServer, startBroker } from './lib/nats-broker.js'
import { contenders, runPair } from './lib/pair.js'

const root = fileURLToPath(new URL('../', import.meta.url))
const seconds = Number(process.env.PROFILE_SECONDS ?? 4)
const top = Number(process.env.PROFILE_TOP ?? 20)
const contender = contenders.find((c) => c.name === (process.env.PROFILE_CONTENDER ?? 'ipc-channel'))
if (!contender) throw new Error(`unknown contender ${process.env.PROFILE_CONTENDER}`)

const sourceMaps = new Map()
const dir = mkdtempSync(join(tmpdir(), 'ipc-profile-'))
const profArgs = (role) => ['--cpu-prof', `--cpu-prof-dir=${join(dir, role)}`, '--cpu-prof-interval=100']
const scenario = process.env.PROFILE_SCENARIO ?? 'throughput'
const nats = contender.path === 'nats'
const echoMiB = nats ? 1 : 16
const options = {
  throughput: { size: 32, inflight: 64, warmupMs: 500, durationMs: seconds * 1000 },
  structured: { inflight: 64, warmupMs: 500, durationMs: seconds * 1000 },
  bandwidth: {
    size: echoMiB * 1024 * 1024,
    warmup: 2,
    reps: nats ? 40 : 10,
    ...(contender.variant === 'transfer' && { warmupMs: 500, repsMs: seconds * 1000 }),
  },
  latency: { size: 32, warmup: 2000, calls: 1_000_000, maxMs: seconds * 1000 },
}[scenario]
if (!options) throw new Error(`PROFILE_SCENARIO must be throughput, structured, bandwidth or latency, not ${scenario}`)
if (nats && !findNatsServer()) throw new Error(`${contender.name} needs nats-server on PATH or in /usr/sbin`)
const broker = nats ? await startBroker(findNatsServer()) : undefined
let result
try {
  ;({ result } = await runPair(contender, scenario, options, {
    dir,
    timeoutMs: 60_000 + seconds * 1000,
    serverNodeArgs: profArgs('server'),
    clientNodeArgs: profArgs('client'),
    broker,
  }))
} finally {
  await broker?.stop()
}

const figure = {
  throughput: () => `${Math.round(result.callsPerSec).toLocaleString('en-US')} calls/s`,
  structured: () => `${Math.round(result.callsPerSec).toLocaleString('en-US')} calls/s with the 20-field record`,
  bandwidth: () => `${echoMiB} MiB echo in ${result.medianMs.toFixed(1)} ms (median)`,
  latency: () => `p50 ${result.p50Us.toFixed(1)} µs over ${result.calls} calls`,
}[scenario]()
console.log(`${contender.name}, ${scenario} scenario under --cpu-prof (100 µs sampling): ${figure}`)
console.log(`profiles: ${dir}/{server,client}/*.cpuprofile\n`)
for (const role of ['client', 'server']) {
  const files = existsSync(join(dir, role)) ? readdirSync(join(dir, role)).filter((f) => f.endsWith('.cpuprofile')) : []
  if (files.length === 0) {
    console.log(`${role}: no profile written${contender.path === 'port' ? " (a port pair's Worker is among the client's threads)" : ''}`)
    continue
  }
  // A port pair is one process: its Worker's profile is a second file in the client's directory.
  for (const [i, file] of files.entries()) {
    summarise(files.length > 1 ? `${role}, thread ${i + 1} (${file})` : role, JSON.parse(readFileSync(join(dir, role, file), 'utf8')))
  }
}

function summarise(role, profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const self = new Map()
  const total = new Map()
  const packages = new Map()
  let all = 0
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000 // ms
    const leaf = byId.get(profile.samples[i])
    all += dt
    const leafKey = keyOf(leaf.callFrame)
    if (leafKey === '(idle)') {
      idle += dt
      continue
    }
    self.set(leafKey, (self.get(leafKey) ?? 0) + dt)
    const pkg = packageOf(leaf.callFrame)
    packages.set(pkg, (packages.get(pkg) ?? 0) + dt)
    const seen = new Set()
    for (let id = leaf.id; id !== undefined; id = parent.get(id)) {
      const key = keyOf(byId.get(id).callFrame)
      if (key === '(root)' || seen.has(key)) continue
      seen.add(key)
      total.set(key, (total.get(key) ?? 0) + dt)
    }
  }
  const busy = all - idle
  const pct = (ms) => `${((100 * ms) / busy).toFixed(1)}%`.padStart(6)
  console.log(`## ${role}: ${all.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy (percentages are of busy time)\n`)
  console.log('self time by package:')
  for (const [pkg, ms] of [...packages].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(ms)}  ${ms.toFixed(0).padStart(6)} ms  ${pkg}`)
  console.log(`\ntop ${top} by self time:`)
  for (const [key, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(ms)}  ${ms.toFixed(0).padStart(6)} ms  ${key}`)
  }
  console.log(`\ntop ${top} by total time (self + callees):`)
  for (const [key, ms] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(ms)}  ${ms.toFixed(0).padStart(6)} ms  ${key}`)
  }
  const ownCode = [...total].filter(([key]) => key.includes('  src/')).sort((a, b) => b[1] - a[1])
  if (ownCode.length > 0) {
    console.log(`\nipc-channel's own functions (src/) by total time, with their self time:`)
    for (const [key, ms] of ownCode.slice(0, top)) {
      console.log(`  ${pct(ms)} total  ${pct(self.get(key) ?? 0)} self  ${key}`)
    }
  }
  console.log('')
}

/** `name  file:line`, with dist/ locations mapped to src/ and paths relative to the project. */
function keyOf(frame) {
  const name = frame.functionName || '(anonymous)'
  if (!frame.url) return name
  let file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url
  let line = frame.lineNumber + 1
  if (file.startsWith(join(root, 'dist'))) {
    const entry = sourceMapFor(file)?.findEntry(frame.lineNumber, frame.columnNumber)
    if (entry?.originalSource) {
      file = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : join(file, '..', entry.originalSource)
      line = entry.originalLine + 1
    }
  }
  if (file.startsWith(root)) file = relative(root, file)
  return `${name}  ${file}:${line}`
}

function sourceMapFor(file) {
  if (!sourceMaps.has(file)) {
    let map
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')))
    } catch {
      map = undefined
    }
    sourceMaps.set(file, map)
  }
  return sourceMaps.get(file)
}

function packageOf(frame) {
  const url = frame.url
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : 'native/V8 builtins'
  if (url.startsWith('node:')) return 'node: internals'
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  if (match) return match[1]
  if (path.startsWith(join(root, 'dist'))) return 'ipc-channel (dist/)'
  if (path.startsWith(join(root, 'bench'))) return 'bench harness'
  return path
}
