/**
 * CPU work per call, counted in instructions under callgrind: `npm run build && node bench/instructions.js`.
 *
 * Wall-clock figures on a small VM move by 2x from one run to the next; instruction counts hardly move.
 * This runs the server and the client of a contender (the unchanged scripts in bench/contenders/ and
 * the harness, bench/lib/harness.js) each under `valgrind --tool=callgrind`, and counts the user-space
 * instructions (callgrind's Ir: JIT code, V8 builtins and runtime, GC, Node, libuv, libc, in every
 * thread of the process; not the kernel) that each process executes per echo call with a 32-byte
 * Uint8Array, in two shapes:
 *   sequential  one call at a time (the latency scenario's shape)
 *   pipelined   64 calls in flight (the throughput scenario's shape)
 *
 * A port contender (`port-*`, bench/contenders/ports/) is one process: its client starts the server in
 * a worker_threads Worker and calls it over a MessageChannel (bench/lib/ports.js). That one process
 * runs under valgrind, and its count is all its threads', the client's main thread and the server's
 * Worker together: `process (client + worker)`, in tables of their own, with port-raw as the reference
 * of their ratios (raw-socket stays that of the socket contenders). No syscall figures for them: there
 * is no socket, and the process's writes (eventfd wake-ups) say nothing of the channel.
 *
 * Method. The client runs the `instructions` scenario (bench/lib/instructions-scenario.js, preloaded
 * with --import; a port contender's Worker inherits the preload and leaves it alone): warm-up calls,
 * then two stretches of COUNT_CALLS calls. At the end of the warm-up and of each stretch it lets the
 * calls in flight finish and blocks on a pipe; this runner waits 300 ms (both processes idle), dumps
 * both processes' counters (a port contender's one) with `vgdb --pid=<pid> dump`
 * (callgrind's monitor command; it reaches a process blocked in a syscall through ptrace) and lets the
 * client go on. Start-up, warm-up and shutdown are never counted: only the two stretches are, and
 * the figure is their instructions / their calls. Taken out of that count and shown apart: V8's JIT
 * work (compiling, the tier-up interrupts, deoptimizing; the inclusive cost of the calls into those
 * runtime functions, read from the dumps), a start-up cost that still turns up now and then long after
 * the warm-up, 1-15 M instructions a time. "drift" compares the second stretch with the first: near 0
 * when the process was steady. Write and read syscalls are taken from /proc/<pid>/io at the same
 * points (valgrind runs with --fair-sched=yes, whose lock does not write to a pipe as the default
 * one does), which gives frames per write at no cost to the processes.
 *
 * Codec mode (bench/lib/instructions-codec.js): the per-message codec steps of bench/micro.js in one
 * process per step, as (count(2n ops) - count(n ops)) / n between dumps, after a warm-up, JIT work
 * left out the same way.
 *
 * V8 flags (see STEADY_V8; COUNT_V8_DEFAULTS=1 drops them): the JIT stays on, with the same compilers,
 * but compiles synchronously and tiers up after an eighth of the usual budget, the GC runs without
 * helper threads, V8's random seed is fixed and the young generation has its full default size from
 * the start. With V8's defaults under valgrind the counts depend on when a starved helper thread
 * finishes its work: codec steps count 10-24% more and move by about 1% between processes (0.0x%
 * with the flags), and one ipc-channel server in four or five settles in a slower state. valgrind's
 * default --smc-check=all-non-file already covers V8's code space (anonymous memory): --smc-check=all
 * gives the same counts. --jitless (COUNT_NODE_ARGS) counts 6-11x more, and other ratios. A port
 * contender's process also runs without V8's memory reducer and without glibc's fastbins (see
 * STEADY_PORT_V8; printed): with them its runs moved by up to 16%.
 *
 * Limits. Pipelined figures depend on batching (frames per write, printed), which depends on timing,
 * and valgrind slows each process 20-50x: they move by up to 1-2% between runs where sequential ones
 * move by 0.1% or less, and their batching is not that of a native run. The two stretches of one run
 * can differ by 10-25% (drift) where a major GC falls into one of them; in the same place every run.
 * Writes are write syscalls of any kind, so a few of Node's own wake-ups (eventfd) count too. The
 * heartbeat of ipc-channel (a ping every 5 s of wall time) is in the count. valgrind runs the threads
 * of a process one at a time, so a port contender's main thread and Worker never run at once: how many
 * messages one wake-up finds, pipelined, is not that of a native run either.
 *
 * Environment:
 *   BENCH_ONLY=a,b          contenders from bench/lib/pair.js (default raw-socket,cbor-rpc,ipc-channel),
 *                           socket or port ones (e.g. port-raw,port-ipc-channel); the reference of each
 *                           path in the list is added: ratios need it. Not supported: the fork ones, the
 *                           NATS ones and the transfer variants (bandwidth only)
 *   COUNT_SHAPES=a,b        sequential, pipelined (default both)
 *   COUNT_MODE=m            all (default) | calls | codec
 *   COUNT_RUNS=n            runs of everything (default 2: the spread between them is printed)
 *   COUNT_CALLS=n           calls per counted stretch, two stretches (default 4,000 sequential, 10,000 pipelined)
 *   COUNT_WARMUP=n          calls before them (default 5,000 sequential, 16,000 pipelined)
 *   COUNT_CODEC_N=n         codec mode: n (default 20,000, after 20,000 warm-up operations)
 *   COUNT_CODEC_STEPS=a,b   codec mode: some of the steps (keys in bench/lib/instructions-codec.js)
 *   COUNT_NODE_ARGS='...'   more Node flags for every process (e.g. --jitless, to compare)
 *   COUNT_V8_DEFAULTS=1     without the flags of STEADY_V8 (nor the port settings of STEADY_PORT_V8)
 *   COUNT_VALGRIND_ARGS='..' more valgrind flags (e.g. --smc-check=all)
 *   COUNT_KEEP=1            keep the callgrind dumps (the directory is printed): `callgrind_annotate
 *                           --inclusive=yes <file>` or kcachegrind (JIT code shows as addresses; a
 *                           port contender's Worker is the busy thread other than -01, the main one)
 *   COUNT_JOBS=n            at most n processes or pairs counted at once (default 2: codec steps and
 *                           sequential pairs go two at a time, pipelined pairs alone; 1 on a shared machine)
 *
 * A full run (codec steps, then 3 contenders x 2 shapes x 2 runs) takes about 7 minutes on 2 CPUs;
 * port-raw and port-ipc-channel, 2 shapes x 2 runs, one at a time, about 4.5 minutes.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { listenControl } from './lib/control.js'
import { contenders, endPair, exited, scenariosOf } from './lib/pair.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../', import.meta.url))
const contendersDir = join(root, 'bench', 'contenders')
const codecScript = join(root, 'bench', 'lib', 'instructions-codec.js')
const scenarioPreload = pathToFileURL(join(root, 'bench', 'lib', 'instructions-scenario.js')).href
/** The reference of each path's ratios, counted whenever a contender of its path is. */
const REFERENCES = { socket: 'raw-socket', port: 'port-raw' }
/** What a port contender's figures are: one process, both threads (bench/lib/ports.js). */
const PROCESS = 'process (client + worker)'

const list = (value) =>
  value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean)
const words = (value) => value?.split(/\s+/).filter(Boolean) ?? []
const only = list(process.env.BENCH_ONLY) ?? [REFERENCES.socket, 'cbor-rpc', 'ipc-channel']
for (const name of only) if (!contenders.some((c) => c.name === name)) throw new Error(`unknown contender ${name}`)
const paths = new Set(contenders.filter((c) => only.includes(c.name)).map((c) => c.path))
const selected = contenders.filter((c) => only.includes(c.name) || (paths.has(c.path) && c.name === REFERENCES[c.path]))
const refuse = (test, why) => {
  const names = selected.filter(test).map((c) => c.name)
  if (names.length > 0) throw new Error(`${names.join(', ')}: ${why}, not supported here`)
}
refuse((c) => c.spawnsServer, 'the client forks the server')
refuse((c) => !REFERENCES[c.path], 'over a broker (NATS)')
// The transfer variants run the bandwidth scenario only: a transfer detaches the payload, which every
// call of the scenario here posts again.
refuse((c) => !scenariosOf(c).includes('latency'), 'bandwidth only')

const SHAPES = {
  sequential: { inflight: 1, warmup: 5000, calls: 4000 },
  pipelined: { inflight: 64, warmup: 16_000, calls: 10_000 },
}
const shapeNames = list(process.env.COUNT_SHAPES) ?? Object.keys(SHAPES)
for (const name of shapeNames) if (!SHAPES[name]) throw new Error(`COUNT_SHAPES: unknown shape ${name} (sequential, pipelined)`)
const mode = process.env.COUNT_MODE ?? 'all'
if (!['all', 'calls', 'codec'].includes(mode)) throw new Error(`COUNT_MODE must be all, calls or codec, not ${mode}`)
const runs = Number(process.env.COUNT_RUNS ?? 2)
const callsFor = (shape) => Number(process.env.COUNT_CALLS ?? SHAPES[shape].calls)
const warmupFor = (shape) => Number(process.env.COUNT_WARMUP ?? SHAPES[shape].warmup)
const codecN = Number(process.env.COUNT_CODEC_N ?? 20_000)
const codecWarmup = 20_000
const codecSteps = process.env.COUNT_CODEC_STEPS
const jobs = Number(process.env.COUNT_JOBS ?? 2)
if (!(jobs >= 1)) throw new Error(`COUNT_JOBS must be 1 or more, not ${process.env.COUNT_JOBS}`)

/**
 * V8 flags that make the counts repeatable; JIT on, same compilers:
 * - optimizing compiles on the main thread, when V8 asks for them, so that the code does not depend on
 *   when a helper thread (valgrind runs one thread at a time) gets to finish the job;
 * - tier-up after 1/8 of the default bytecode budget: code that runs once per batch or per read gets
 *   optimized within the warm-up (with the default budget Node's stream functions were still being
 *   compiled 30,000 pipelined calls in);
 * - GC without helper threads and a fixed seed for V8's random numbers (hashes, addresses): without
 *   them one ipc-channel server in four or five settled in a slower state for good (Node's nextTick
 *   left unoptimized, +7,800 instructions per call);
 * - the young generation at its default maximum (16 MiB semi-spaces) from the start, not grown from
 *   1 MiB by heuristics: otherwise one process in three or four scavenged twice as often as the others
 *   for good (+3% on a codec step). A busy process grows it to that size anyway.
 */
const STEADY_V8 = [
  '--no-concurrent-recompilation',
  '--no-concurrent-osr',
  '--interrupt-budget=8448',
  '--single-threaded-gc',
  '--random-seed=1',
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
]
/**
 * A port contender's process has two busy threads, the main thread and the Worker, each with a V8 heap
 * of its own and both on one malloc. Two more settings for it alone (the socket counts stay comparable
 * with the earlier ones in bench/README.md):
 * - no memory reducer: it starts a major GC from a timer once allocation looks slow, which under
 *   valgrind it always does. The Worker's (some 70 M instructions) fell into the first counted stretch
 *   in some runs and not in others: port-ipc-channel sequential counted 45,950 to 54,072 per call
 *   without this flag, 47,883 to 47,919 in four runs with it;
 * - no glibc fastbins (GLIBC_TUNABLES=glibc.malloc.mxfast=0): in one run of port-raw in four or five the
 *   Worker settled for good in a state where every call's malloc first consolidated the fastbins
 *   (+200 instructions per call); which chunks wait there depends on how the two threads' frees
 *   interleave.
 */
const STEADY_PORT_V8 = ['--no-memory-reducer']
const STEADY_PORT_TUNABLES = 'glibc.malloc.mxfast=0'
const steady = process.env.COUNT_V8_DEFAULTS !== '1'
const nodeArgs = [...(steady ? STEADY_V8 : []), ...words(process.env.COUNT_NODE_ARGS)]
const portNodeArgs = steady ? STEADY_PORT_V8 : []
const portTunables = [process.env.GLIBC_TUNABLES, ...(steady ? [STEADY_PORT_TUNABLES] : [])].filter(Boolean).join(':')
const valgrindArgs = words(process.env.COUNT_VALGRIND_ARGS)
const keep = process.env.COUNT_KEEP === '1'

const dir = mkdtempSync(join(tmpdir(), 'ipc-instructions-'))
let serial = 0

/** valgrind + node command line for one process; its dumps go to `<out>.<n>-<thread>`. */
function valgrindCommand(out, args, steadyArgs = []) {
  return [
    '--tool=callgrind',
    '-q',
    `--callgrind-out-file=${out}`,
    '--separate-threads=yes',
    // A futex lock between the process's threads instead of valgrind's default pipe, which writes a
    // byte each time a thread blocks in a syscall: that would count in the process's write syscalls.
    '--fair-sched=yes',
    // Each dump readable on its own (and JIT functions found by name below).
    '--compress-strings=no',
    ...valgrindArgs,
    process.execPath,
    ...steadyArgs,
    ...nodeArgs,
    ...args,
  ]
}

/**
 * V8's tiering work: compiling (lazy, baseline, optimizing, OSR, and the budget interrupts that start
 * them) and deoptimizing. Counted apart, so that a late compile falling into a stretch does not move
 * the result.
 */
const JIT =
  /^v8::internal::(Runtime_Compile\w*|Runtime_BytecodeBudgetInterrupt\w*|Runtime_NotifyDeoptimized|Deoptimizer::New|Deoptimizer::ComputeOutputFrames)\(/

/** Instructions in dump number `n` of `out`, all threads: `total`, and `jit` within it. */
function readDump(out, n) {
  const base = out.slice(out.lastIndexOf('/') + 1)
  const prefix = `${base}.${n}`
  const files = readdirSync(dir).filter((f) => f === prefix || f.startsWith(`${prefix}-`))
  if (files.length === 0) throw new Error(`no callgrind dump ${prefix} in ${dir}`)
  const figures = { total: 0, jit: 0 }
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8')
    const match = /^totals:\s*(\d+)/m.exec(text) ?? /^summary:\s*(\d+)/m.exec(text)
    if (!match) throw new Error(`no totals in ${file}`)
    figures.total += Number(match[1])
    figures.jit += jitCost(text)
  }
  return figures
}

/** Callgrind format: the line after `calls=` is the inclusive cost of that call. */
function jitCost(text) {
  let sum = 0
  let callerIsJit = false
  let callee = ''
  let inCall = false
  for (const line of text.split('\n')) {
    if (inCall) {
      inCall = false
      if (!callerIsJit && JIT.test(callee)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    } else if (line.startsWith('fn=')) callerIsJit = JIT.test(line.slice(3))
    else if (line.startsWith('cfn=')) callee = line.slice(4)
    else if (line.startsWith('calls=')) inCall = true
  }
  return sum
}

const vgdb = (pid, command) => run('vgdb', [`--pid=${pid}`, command])

/** Write and read syscalls of a process so far (the kernel's per-process I/O accounting). */
function syscalls(pid) {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8')
  const field = (name) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)[1])
  return { writes: field('syscw'), reads: field('syscr') }
}

/** Lines of a readable stream, one per `next()`. */
function lines(stream) {
  const queue = []
  const waiters = []
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk) => {
    pending += chunk
    let index
    while ((index = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, index)
      pending = pending.slice(index + 1)
      const waiter = waiters.shift()
      if (waiter) waiter(line)
      else queue.push(line)
    }
  })
  return { next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))) }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * One counted pair. Per role: `perCall` (instructions per call over the two stretches, JIT left out),
 * `jitPerCall`, `drift` (second stretch against the first), `writes` and `reads` (syscalls in them).
 * A port contender is one process, the client, which starts its server in a Worker (bench/lib/ports.js):
 * its one role is `client`, its dumps hold every thread, and it has no `writes` or `reads` (no socket:
 * its syscalls say nothing of the channel).
 */
async function countPair(contender, shapeName) {
  const port = contender.path === 'port'
  const shape = SHAPES[shapeName]
  const calls = callsFor(shapeName)
  const id = ++serial
  const controlPath = join(dir, `ctl-${id}.sock`)
  const socketPath = join(dir, `ch-${id}.sock`)
  const out = { server: join(dir, `pair${id}-server.out`), client: join(dir, `pair${id}-client.out`) }
  const boundaries = []
  let at = 0
  for (const [label, count] of [
    ['warm', warmupFor(shapeName)],
    ['a', calls],
    ['b', calls],
  ]) {
    at += count
    boundaries.push({ at, label })
  }
  // The client's stops: it writes the boundary's label on its fd 3 and waits for a byte on its fd 4.
  const options = { size: 32, inflight: shape.inflight, boundaries, markFds: [3, 4] }
  const params = { control: controlPath, socket: socketPath, scenario: 'instructions', options, serverNodeArgs: [] }
  const env = { ...process.env, BENCH_PARAMS: JSON.stringify(params), ...(port && portTunables ? { GLIBC_TUNABLES: portTunables } : {}) }
  const script = join(contendersDir, contender.script)
  const peers = {}
  const arrived = {}
  const waitPeer = Object.fromEntries(['server', 'client'].map((role) => [role, new Promise((resolve) => (arrived[role] = resolve))]))
  const control = await listenControl(controlPath, (peer) => {
    peers[peer.role] = peer
    arrived[peer.role](peer)
  })
  const children = []
  let failed
  const failure = new Promise((_, reject) => (failed = reject))
  failure.catch(() => {})
  const start = (role) => {
    const client = role === 'client'
    const args = [...(client ? ['--import', scenarioPreload] : []), script, role, ...(contender.variant ? [contender.variant] : [])]
    const stdio = ['ignore', 'inherit', 'inherit', ...(client ? ['pipe', 'pipe'] : [])]
    const child = spawn('valgrind', valgrindCommand(out[role], args, port ? portNodeArgs : []), { env, stdio })
    children.push(child)
    exited(child).then(() => {
      if (child.exitCode !== 0) failed(new Error(`${contender.name} ${role} exited with ${child.exitCode ?? child.signalCode}`))
    })
    return child
  }
  const next = async (peer, type) => {
    for (;;) {
      const message = await Promise.race([peer.next(), failure])
      if (message.type === type) return message
    }
  }
  try {
    if (!port) {
      start('server')
      await next(await Promise.race([waitPeer.server, failure]), 'ready')
    }
    const clientProcess = start('client')
    const labels = lines(clientProcess.stdio[3])
    const client = await Promise.race([waitPeer.client, failure])
    const roles = port ? ['client'] : ['server', 'client']
    const io = () => (port ? [] : roles.map((role) => syscalls(peers[role].pid)))
    const marks = {}
    for (const [index, { label }] of boundaries.entries()) {
      const said = await Promise.race([labels.next(), failure])
      if (said !== label) throw new Error(`mark ${said}, expected ${label}`)
      await sleep(300) // both processes idle: what the last calls set off (sweeping, a compile) has run
      const before = io()
      await Promise.all(roles.map((role) => vgdb(peers[role].pid, 'dump')))
      const after = io()
      marks[label] = { dump: index + 1, before, after }
      clientProcess.stdio[4].write('x')
    }
    await next(client, 'result')
    if (!port) peers.server.send({ type: 'exit' })
    await Promise.race([Promise.all(children.map(exited)), failure])

    const figures = { calls: 2 * calls }
    roles.forEach((role, i) => {
      const a = readDump(out[role], marks.a.dump)
      const b = readDump(out[role], marks.b.dump)
      // The client's two marks and its two reads of the runner's answers are its own.
      const own = role === 'client' ? 2 : 0
      figures[role] = {
        perCall: (a.total - a.jit + b.total - b.jit) / (2 * calls),
        jitPerCall: (a.jit + b.jit) / (2 * calls),
        drift: (b.total - b.jit) / (a.total - a.jit) - 1,
      }
      if (!port) {
        figures[role].writes = marks.b.before[i].writes - marks.warm.after[i].writes - own
        figures[role].reads = marks.b.before[i].reads - marks.warm.after[i].reads - own
      }
    })
    return figures
  } finally {
    await endPair(children, control, controlPath, socketPath)
  }
}

/** The codec steps (key and label), from the codec script itself, run without valgrind. */
function codecStepList() {
  const args = [codecScript, '--list', '0', ...(codecSteps ? [codecSteps] : [])]
  const text = execFileSync(process.execPath, args, { encoding: 'utf8' })
  const sizes = /^sizes (.*)$/m.exec(text)[1]
  const steps = [...text.matchAll(/^step (\S+) (.*)$/gm)].map(([, key, label]) => ({ key, label }))
  return { sizes, steps }
}

/** One process through one codec step: instructions per operation (JIT left out), JIT per operation. */
function countCodecStep(key) {
  const id = ++serial
  const out = join(dir, `codec${id}.out`)
  const args = [codecScript, String(codecN), String(codecWarmup), key]
  const child = spawn('valgrind', valgrindCommand(out, args), { stdio: ['pipe', 'pipe', 'inherit'] })
  const counts = new Map()
  let dumps = 0
  let queue = Promise.resolve()
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    const said = lines(child.stdout)
    const serve = async () => {
      for (;;) {
        const line = await said.next()
        if (line.startsWith('done')) return
        if (!line.startsWith('mark ')) continue
        await vgdb(child.pid, 'dump')
        counts.set(line.slice(5), readDump(out, ++dumps))
        child.stdin.write('x')
      }
    }
    queue = serve()
    queue.catch(reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`codec process (${key}) exited with ${code}`))
      queue.then(() => {
        const single = counts.get(`${key} n`)
        const double = counts.get(`${key} 2n`)
        resolve({
          perOp: (double.total - double.jit - (single.total - single.jit)) / codecN,
          jitPerOp: (single.jit + double.jit) / (3 * codecN),
        })
      }, reject)
    })
  })
}

/** Runs `tasks` (functions returning promises) `width` at a time; results in order. */
async function pool(tasks, width) {
  const results = []
  let next = 0
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]()
    }
  }
  await Promise.all(Array.from({ length: width }, lane))
  return results
}

// ---------------------------------------------------------------------------------------------

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-'
const pct = (x) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length
const spread = (values) => (values.length > 1 ? `${((100 * (Math.max(...values) - Math.min(...values))) / mean(values)).toFixed(2)}%` : '-')
const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
  } catch {
    return '?'
  }
}

const t0 = Date.now()
const valgrindVersion = execFileSync('valgrind', ['--version'], { encoding: 'utf8' }).trim()
const dirty = git('status', '--short', 'src')
console.log(`ipc-channel at ${git('rev-parse', '--short', 'HEAD')}, src/ ${dirty ? `modified:\n${dirty.replace(/^/gm, '    ')}` : 'clean'}`)
console.log(`Node ${process.version} ${nodeArgs.join(' ')}; ${valgrindVersion} --tool=callgrind ${valgrindArgs.join(' ')}`)
const portExtras = [...portNodeArgs, ...(portTunables ? [`GLIBC_TUNABLES=${portTunables}`] : [])]
if (mode !== 'codec' && selected.some((c) => c.path === 'port') && portExtras.length > 0) {
  console.log(`port contenders' process: also ${portExtras.join(' ')}`)
}
console.log(`callgrind dumps in ${dir}${keep ? '' : ' (removed at the end; COUNT_KEEP=1 keeps them)'}\n`)

if (mode !== 'calls') {
  // One process per step, two at a time (one per CPU).
  const { sizes, steps } = codecStepList()
  const tasks = Array.from({ length: runs }, () => steps.map((step) => () => countCodecStep(step.key))).flat()
  const flat = await pool(tasks, Math.min(2, jobs))
  const perRun = Array.from({ length: runs }, (_, r) => flat.slice(r * steps.length, (r + 1) * steps.length))
  console.log(`## Codec steps, one process per step (${sizes} bytes): instructions per operation\n`)
  const header = ['step', 'instr/op', ...(runs > 1 ? [...perRun.map((_, r) => `run ${r + 1}`), 'spread'] : [])]
  console.log(`| ${header.join(' | ')} |`)
  console.log(
    `|:---|${header
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
  )
  for (const [i, step] of steps.entries()) {
    const values = perRun.map((figures) => figures[i].perOp)
    console.log(`| ${step.label} | ${[fmt(mean(values)), ...(runs > 1 ? [...values.map((v) => fmt(v)), spread(values)] : [])].join(' | ')} |`)
  }
  const codecKeys = ['call-encode', 'call-decode', 'result-encode', 'result-decode']
  const indexes = codecKeys.map((key) => steps.findIndex((s) => s.key === key))
  if (indexes.every((i) => i >= 0)) {
    const perTrip = perRun.map((figures) => indexes.reduce((sum, i) => sum + figures[i].perOp, 0))
    const cells = [`**${fmt(mean(perTrip))}**`, ...(runs > 1 ? [...perTrip.map((v) => fmt(v)), spread(perTrip)] : [])]
    console.log(`| **codec per round trip** (the four Codec steps) | ${cells.join(' | ')} |`)
  }
  const jit = Math.max(...flat.map((f) => f.jitPerOp))
  console.log(`\nJIT work left out: at most ${fmt(jit, 1)} instructions per operation. (${((Date.now() - t0) / 1000).toFixed(0)} s so far)\n`)
}

if (mode !== 'codec') {
  /** results.get(contender).get(shape)[run] = countPair's figures */
  const results = new Map(selected.map((c) => [c.name, new Map(shapeNames.map((s) => [s, []]))]))
  const countOne = async (contender, shapeName, r) => {
    const started = Date.now()
    const f = await countPair(contender, shapeName)
    results.get(contender.name).get(shapeName)[r] = f
    const took = `(${((Date.now() - started) / 1000).toFixed(0)} s)\n`
    if (!f.server) {
      process.stderr.write(
        `run ${r + 1}/${runs} ${contender.name} ${shapeName}: ${PROCESS} ${fmt(f.client.perCall)} instr/call, ` +
          `JIT left out ${fmt(f.client.jitPerCall)}, drift ${pct(f.client.drift)} ${took}`,
      )
      return
    }
    process.stderr.write(
      `run ${r + 1}/${runs} ${contender.name} ${shapeName}: client ${fmt(f.client.perCall)} + server ${fmt(f.server.perCall)} instr/call, ` +
        `JIT left out ${fmt(f.client.jitPerCall + f.server.jitPerCall)}, drift ${pct(f.client.drift)} ${pct(f.server.drift)}, ` +
        `frames/write ${fmt(f.calls / f.client.writes, 1)} ${fmt(f.calls / f.server.writes, 1)}, ` +
        `calls/read ${fmt(f.calls / f.client.reads, 1)} ${fmt(f.calls / f.server.reads, 1)} ${took}`,
    )
  }
  // A sequential pair keeps one CPU busy (its processes take turns): two runs go at once. Pipelined
  // pairs run alone, with both CPUs, as in the wall-clock throughput scenario.
  for (const contender of selected) {
    for (const shapeName of shapeNames) {
      const tasks = Array.from({ length: runs }, (_, r) => () => countOne(contender, shapeName, r))
      await pool(tasks, Math.min(SHAPES[shapeName].inflight === 1 ? 2 : 1, jobs))
    }
  }

  const summary = (name, shapeName) => {
    const perRun = results
      .get(name)
      .get(shapeName)
      .map((f) =>
        // A port pair is one process, counted as the client (see countPair).
        f.server
          ? {
              client: f.client.perCall,
              server: f.server.perCall,
              total: f.client.perCall + f.server.perCall,
              jit: f.client.jitPerCall + f.server.jitPerCall,
              drift: `${pct(f.client.drift)} / ${pct(f.server.drift)}`,
              up: f.calls / f.client.writes,
              down: f.calls / f.server.writes,
            }
          : { total: f.client.perCall, jit: f.client.jitPerCall, drift: pct(f.client.drift) },
      )
    const avg = (key) => mean(perRun.map((p) => p[key]))
    return { perRun, client: avg('client'), server: avg('server'), total: avg('total'), jit: avg('jit'), up: avg('up'), down: avg('down') }
  }

  const counts = shapeNames.map((s) => `${s} ${fmt(warmupFor(s))} warm-up calls + 2 x ${fmt(callsFor(s))} counted`).join('; ')
  const means = `mean of ${runs} run${runs > 1 ? 's' : ''}`
  const runHeads = Array.from({ length: runs }, (_, i) => `run ${i + 1}`)
  const onSockets = selected.filter((c) => c.path === 'socket')
  const onPorts = selected.filter((c) => c.path === 'port')
  if (onSockets.length > 0) {
    console.log(`## Instructions per call, 32-byte echo (${counts}; ${means})\n`)
    console.log('| contender | shape | client | server | total | ×raw | frames/write client→server | server→client |')
    console.log('|:---|:---|---:|---:|---:|---:|---:|---:|')
    for (const contender of onSockets) {
      for (const shapeName of shapeNames) {
        const s = summary(contender.name, shapeName)
        const ratio = s.total / summary(REFERENCES.socket, shapeName).total
        const name = contender.kind === 'subject' ? `**${contender.name}**` : contender.name
        console.log(
          `| ${name} | ${shapeName} | ${fmt(s.client)} | ${fmt(s.server)} | ${fmt(s.total)} | ${ratio.toFixed(2)}x | ${fmt(s.up, 1)} | ${fmt(s.down, 1)} |`,
        )
      }
    }
    console.log(
      `\nRuns: total (client + server) per call; JIT work per call left out of it; drift of the second stretch against the first, client / server; frames per write, client / server.\n`,
    )
    console.log(`| contender | shape | ${runHeads.join(' | ')} | spread | JIT left out | drift | frames/write |`)
    console.log(`|:---|:---|${runHeads.map(() => '---:').join('|')}|---:|---:|:---|:---|`)
    for (const contender of onSockets) {
      for (const shapeName of shapeNames) {
        const s = summary(contender.name, shapeName)
        const totals = s.perRun.map((p) => p.total)
        const drifts = s.perRun.map((p) => p.drift).join(', ')
        const frames = s.perRun.map((p) => `${fmt(p.up, 1)}/${fmt(p.down, 1)}`).join(', ')
        console.log(
          `| ${contender.name} | ${shapeName} | ${totals.map((v) => fmt(v)).join(' | ')} | ${spread(totals)} | ${fmt(s.jit)} | ${drifts} | ${frames} |`,
        )
      }
    }
  }

  // One process per pair: no client and server columns, and no frames per write (no socket).
  if (onPorts.length > 0) {
    const gap = onSockets.length > 0 ? '\n' : ''
    console.log(`${gap}## Instructions per call over a MessagePort, 32-byte echo (${counts}; ${means})\n`)
    console.log(`One process: the client in its main thread, the server in a Worker; counted together.\n`)
    console.log(`| contender | shape | ${PROCESS} | ×port-raw |`)
    console.log('|:---|:---|---:|---:|')
    for (const contender of onPorts) {
      for (const shapeName of shapeNames) {
        const s = summary(contender.name, shapeName)
        const ratio = s.total / summary(REFERENCES.port, shapeName).total
        const name = contender.kind === 'subject' ? `**${contender.name}**` : contender.name
        console.log(`| ${name} | ${shapeName} | ${fmt(s.total)} | ${ratio.toFixed(2)}x |`)
      }
    }
    console.log(`\nRuns: the process's instructions per call; JIT work per call left out of it; drift of the second stretch against the first.\n`)
    console.log(`| contender | shape | ${runHeads.join(' | ')} | spread | JIT left out | drift |`)
    console.log(`|:---|:---|${runHeads.map(() => '---:').join('|')}|---:|---:|:---|`)
    for (const contender of onPorts) {
      for (const shapeName of shapeNames) {
        const s = summary(contender.name, shapeName)
        const totals = s.perRun.map((p) => p.total)
        const drifts = s.perRun.map((p) => p.drift).join(', ')
        console.log(`| ${contender.name} | ${shapeName} | ${totals.map((v) => fmt(v)).join(' | ')} | ${spread(totals)} | ${fmt(s.jit)} | ${drifts} |`)
      }
    }
  }
}

console.log(`\n${((Date.now() - t0) / 1000).toFixed(0)} s in all`)
if (!keep) rmSync(dir, { recursive: true, force: true })
