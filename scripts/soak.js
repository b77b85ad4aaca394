/**
 * Soak test: a server process and a client process over a Unix socket, 1,000,000 calls pipelined
 * (64 in flight). Prints the RSS of both processes before, every 100,000 calls, and after (after a
 * full GC), and the client's count of calls still pending at the end, which must be 0.
 *
 *   npm run soak                      (builds first)
 *   node --expose-gc scripts/soak.js [calls] [inFlight]
 *
 * The pending count is the client's own: calls it started and has not seen settle, counted through
 * the public API only. Exits non-zero when a call failed, a call is still pending, or a process died.
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getHeapSpaceStatistics } from 'node:v8'
import { fileURLToPath } from 'node:url'

const self = fileURLToPath(import.meta.url)
const role = process.env.SOAK_ROLE
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
/**
 * RSS, V8 heap in use, memory outside the heap (Buffers and other external allocations), and the size
 * V8 has given its young generation (new space), which it grows under a steady allocation rate.
 */
const describe = (m) =>
  `rss ${mb(m.rss).padStart(9)} heap ${mb(m.heapUsed).padStart(8)} ext ${mb(m.external).padStart(8)} new ${mb(m.newSpace).padStart(8)}`

function memory(collect) {
  if (collect && globalThis.gc) {
    globalThis.gc()
    globalThis.gc()
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
  const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0
  return { rss, heapUsed, external, arrayBuffers, newSpace }
}

/** Answers `{ cmd: 'memory', collect }` from the parent. */
function answerMemoryRequests(extra = () => ({})) {
  process.on('message', (message) => {
    if (message.cmd === 'memory') process.send({ type: 'memory', memory: memory(message.collect), ...extra() })
  })
}

async function runServer(path) {
  const { listen } = await import('../dist/index.js')
  const server = await listen(path)
  server.expose({ add: (a, b) => a + b })
  answerMemoryRequests(() => ({ channels: server.channels.size }))
  process.on('message', async (message) => {
    if (message.cmd === 'close') {
      await server.close()
      process.send({ type: 'closed' })
      process.disconnect()
    }
  })
  process.send({ type: 'listening' })
}

async function runClient(path, total, inFlight, every) {
  const { Client } = await import('../dist/index.js')
  const client = new Client(path)
  await client.ready()
  let pending = 0
  let completed = 0
  let failed = 0
  let wrong = 0
  let firstFailure
  answerMemoryRequests(() => ({ pending, completed, failed }))

  const waitForGo = new Promise((resolve) => {
    const onMessage = (message) => {
      if (message.cmd !== 'go') return
      process.off('message', onMessage)
      resolve()
    }
    process.on('message', onMessage)
  })
  process.send({ type: 'ready' })
  await waitForGo

  let next = 0
  const started = Date.now()
  async function worker() {
    while (next < total) {
      const i = next++
      pending++
      try {
        if ((await client.rpc('add', i, 1)) !== i + 1) wrong++
      } catch (error) {
        failed++
        firstFailure ??= String(error)
      } finally {
        pending--
      }
      completed++
      if (completed % every === 0 && completed < total) process.send({ type: 'progress', completed, elapsed: Date.now() - started })
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const elapsed = Date.now() - started
  await client.close()
  process.send({ type: 'done', completed, failed, wrong, firstFailure, pending, elapsed, memory: memory(true) })
  process.disconnect()
}

function start(name, args) {
  const child = fork(self, args, { env: { ...process.env, SOAK_ROLE: name }, execArgv: ['--expose-gc'] })
  const inbox = []
  const waiters = []
  child.on('message', (message) => {
    const index = waiters.findIndex((w) => w.types.includes(message.type))
    if (index >= 0) waiters.splice(index, 1)[0].resolve(message)
    else inbox.push(message)
  })
  child.on('exit', (code, signal) => {
    if (code !== 0) {
      for (const waiter of waiters.splice(0)) waiter.reject(new Error(`${name} exited with ${code ?? signal}`))
    }
  })
  return {
    child,
    /** The next message of one of `types`, in arrival order. */
    next(...types) {
      const index = inbox.findIndex((m) => types.includes(m.type))
      if (index >= 0) return Promise.resolve(inbox.splice(index, 1)[0])
      return new Promise((resolve, reject) => waiters.push({ types, resolve, reject }))
    },
    ask(command, type) {
      const answer = this.next(type)
      child.send(command)
      return answer
    },
  }
}

async function main() {
  const total = Number(process.argv[2] ?? 1_000_000)
  const inFlight = Number(process.argv[3] ?? 64)
  const every = Math.max(1, Math.floor(total / 10))
  const dir = mkdtempSync(join(tmpdir(), 'ipc-soak-'))
  const path = join(dir, 'soak.sock')
  const server = start('server', [path])
  let client
  try {
    await server.next('listening')
    client = start('client', [path, String(total), String(inFlight), String(every)])
    await client.next('ready')

    const sample = async (label, collect) => {
      const [s, c] = await Promise.all([server.ask({ cmd: 'memory', collect }, 'memory'), client.ask({ cmd: 'memory', collect }, 'memory')])
      console.log(`${label.padEnd(16)} server ${describe(s.memory)} | client ${describe(c.memory)} | in flight ${c.pending}`)
      return { server: s.memory, client: c.memory }
    }

    console.log(`soak: ${total.toLocaleString('en')} calls, ${inFlight} in flight, Node ${process.version}`)
    const before = await sample('before (GC)', true)
    client.child.send({ cmd: 'go' })
    for (;;) {
      const message = await client.next('progress', 'done')
      if (message.type === 'done') {
        client.result = message
        break
      }
      const rate = Math.round(message.completed / (message.elapsed / 1000))
      await sample(`${message.completed.toLocaleString('en')} calls`, false)
      console.log(`${''.padEnd(16)} ${rate.toLocaleString('en')} calls/s so far`)
    }
    const result = client.result
    const serverAfter = await server.ask({ cmd: 'memory', collect: true }, 'memory')
    console.log(`${'after (GC)'.padEnd(16)} server ${describe(serverAfter.memory)} | client ${describe(result.memory)} | pending ${result.pending}`)
    console.log(
      `done: ${result.completed.toLocaleString('en')} calls in ${(result.elapsed / 1000).toFixed(1)} s ` +
        `(${Math.round(result.completed / (result.elapsed / 1000)).toLocaleString('en')} calls/s), ` +
        `${result.failed} failed, ${result.wrong} wrong answers, ${result.pending} pending at the end`,
    )
    console.log(
      `rss growth: server ${mb(serverAfter.memory.rss - before.server.rss)}, client ${mb(result.memory.rss - before.client.rss)}; ` +
        `server channels left: ${serverAfter.channels}`,
    )
    if (result.firstFailure) console.log(`first failure: ${result.firstFailure}`)
    await server.ask({ cmd: 'close' }, 'closed')
    const ok = result.pending === 0 && result.failed === 0 && result.wrong === 0 && result.completed === total
    process.exitCode = ok ? 0 : 1
  } finally {
    server.child.kill()
    client?.child.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (role === 'server') await runServer(process.argv[2])
else if (role === 'client') await runClient(process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]))
else await main()
