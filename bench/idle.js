/**
 * Memory of idle connections: `npm run build && node bench/idle.js [connections] [calls] [raw]`
 * (default 1,000 connections, 0 calls, ipc-channel).
 *
 * One server process (`listen()` from dist/, one exposed function, default options) and one client
 * process that opens the connections with `connect()`, all to the same server, and then makes no
 * calls. The server's memory is sampled after a full GC (both processes run with --expose-gc) with no
 * connection, after the first tenth of them (code compiled, buffers of the first connections
 * allocated), and with all of them once they have been idle for a moment. Prints the server's RSS, V8
 * heap and external memory per connection, over all of them and over the last nine tenths (the
 * marginal cost, without one-time costs), and the client's RSS per connection for reference.
 * With `calls` > 0 every connection first makes that many echo calls with a 1 KiB argument, in
 * parallel, and then goes idle: buffers that only traffic touches (a transport's write batch) are
 * then resident too, which is the case of a connection that was busy once and is idle now.
 * With `raw` the same is done with the raw-socket contender's framing (bench/lib/framing.js, writes
 * coalesced per tick) instead of ipc-channel: what a Unix socket costs in Node without any protocol.
 * Exits non-zero when a connection failed or the server did not see all of them.
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as netConnect, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { coalescingFrameWriter, readFrames } from './lib/framing.js'

const self = fileURLToPath(import.meta.url)
const role = process.env.IDLE_ROLE
const KiB = 1024
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function memory() {
  globalThis.gc?.()
  globalThis.gc?.()
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
  return { rss, heapUsed, external, arrayBuffers }
}

/** The echo server: ipc-channel's, or the raw socket's. `count()` is the connections it has. */
async function startServer(path, raw) {
  if (raw) {
    const sockets = new Set()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      const write = coalescingFrameWriter(socket)
      readFrames(socket, (payload) => write(payload))
    })
    await new Promise((resolve) => server.listen(path, resolve))
    return {
      count: () => sockets.size,
      close: () => {
        for (const socket of sockets) socket.destroy()
        return new Promise((resolve) => server.close(resolve))
      },
    }
  }
  const { listen } = await import('../dist/index.js')
  const server = await listen(path)
  server.expose('echo', (bytes) => bytes)
  return { count: () => server.channels.size, close: () => server.close() }
}

/** One connection of the client: `call(bytes)` echoes, `close()` ends it. */
async function openConnection(path, raw) {
  if (raw) {
    const socket = netConnect(path)
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    const write = coalescingFrameWriter(socket)
    const waiting = []
    readFrames(socket, (payload) => waiting.shift()(payload))
    return {
      call: (bytes) => new Promise((resolve) => waiting.push(resolve) && write(bytes)),
      close: () => new Promise((resolve) => socket.end(resolve)),
    }
  }
  const { connect } = await import('../dist/index.js')
  const client = await connect(path)
  return { call: (bytes) => client.rpc('echo', bytes), close: () => client.close() }
}

async function runServer(path, raw) {
  const server = await startServer(path, raw)
  process.on('message', async (message) => {
    if (message.cmd === 'sample') {
      // Wait until the server has every connection of this step through its handshake.
      const deadline = Date.now() + 30_000
      while (server.count() < message.expect && Date.now() < deadline) await sleep(20)
      await sleep(message.settleMs ?? 0)
      process.send({ type: 'sample', channels: server.count(), memory: memory() })
    } else if (message.cmd === 'close') {
      await server.close()
      process.send({ type: 'closed' })
      process.disconnect()
    }
  })
  process.send({ type: 'listening' })
}

async function runClient(path, raw) {
  const clients = []
  let failed = 0
  let firstFailure
  process.on('message', async (message) => {
    if (message.cmd === 'open') {
      const start = clients.length
      // In batches, so that the server's listen backlog is never the limit.
      while (clients.length < message.total) {
        const batch = Math.min(50, message.total - clients.length)
        const opened = await Promise.allSettled(Array.from({ length: batch }, () => openConnection(path, raw)))
        for (const outcome of opened) {
          if (outcome.status === 'fulfilled') clients.push(outcome.value)
          else {
            failed++
            firstFailure ??= String(outcome.reason)
            clients.push(undefined)
          }
        }
      }
      if (message.calls > 0) {
        const bytes = new Uint8Array(1024).fill(7)
        await Promise.all(
          clients.slice(start).map((client) => client && Promise.all(Array.from({ length: message.calls }, () => client.call(bytes)))),
        )
      }
      process.send({ type: 'opened', open: clients.filter(Boolean).length, failed, firstFailure, memory: memory() })
    } else if (message.cmd === 'close') {
      await Promise.all(clients.map((client) => client?.close()))
      process.send({ type: 'closed' })
      process.disconnect()
    }
  })
  process.send({ type: 'ready' })
}

function start(name, args) {
  const child = fork(self, args, { env: { ...process.env, IDLE_ROLE: name }, execArgv: ['--expose-gc'] })
  const inbox = []
  const waiters = []
  child.on('message', (message) => {
    const index = waiters.findIndex((w) => w.type === message.type)
    if (index >= 0) waiters.splice(index, 1)[0].resolve(message)
    else inbox.push(message)
  })
  child.on('exit', (code, signal) => {
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`${name} exited with ${code ?? signal}`))
  })
  return {
    child,
    next(type) {
      const index = inbox.findIndex((m) => m.type === type)
      if (index >= 0) return Promise.resolve(inbox.splice(index, 1)[0])
      return new Promise((resolve, reject) => waiters.push({ type, resolve, reject }))
    },
    ask(command, type) {
      const answer = this.next(type)
      child.send(command)
      return answer
    },
  }
}

async function main() {
  const total = Number(process.argv[2] ?? 1000)
  const calls = Number(process.argv[3] ?? 0)
  const raw = process.argv[4] === 'raw'
  const first = Math.max(1, Math.round(total / 10))
  const dir = mkdtempSync(join(tmpdir(), 'ipc-idle-'))
  const path = join(dir, 'idle.sock')
  const server = start('server', [path, raw ? 'raw' : 'ipc-channel'])
  let client
  try {
    await server.next('listening')
    client = start('client', [path, raw ? 'raw' : 'ipc-channel'])
    await client.next('ready')
    const perConnection = (a, b, n, key) => (b.memory[key] - a.memory[key]) / n / KiB
    const show = (label, s) =>
      console.log(
        `${label.padEnd(24)} server rss ${(s.memory.rss / 1024 / KiB).toFixed(1).padStart(6)} MiB, heap ${(s.memory.heapUsed / 1024 / KiB).toFixed(1).padStart(5)} MiB, ` +
          `external ${(s.memory.external / 1024 / KiB).toFixed(1).padStart(5)} MiB; connections ${s.channels}`,
      )

    console.log(
      `${raw ? 'raw socket (bench/lib/framing.js)' : 'ipc-channel'}: ${total.toLocaleString('en-US')} idle connections to one server process, ` +
        `${calls > 0 ? `each after ${calls} calls with a 1 KiB argument` : 'no call made'}, Node ${process.version}`,
    )
    const none = await server.ask({ cmd: 'sample', expect: 0, settleMs: 200 }, 'sample')
    show('no connection (GC)', none)
    const clientBefore = (await client.ask({ cmd: 'open', total: 0 }, 'opened')).memory
    const step1 = await client.ask({ cmd: 'open', total: first, calls }, 'opened')
    const some = await server.ask({ cmd: 'sample', expect: first, settleMs: 500 }, 'sample')
    show(`${first.toLocaleString('en-US')} connections (GC)`, some)
    const step2 = await client.ask({ cmd: 'open', total, calls }, 'opened')
    const all = await server.ask({ cmd: 'sample', expect: total, settleMs: 2000 }, 'sample')
    show(`${total.toLocaleString('en-US')} connections (GC)`, all)

    const rows = [
      [`per connection over all ${total}`, none, all, total],
      [`per connection, last ${total - first} (marginal)`, some, all, total - first],
    ]
    console.log('')
    for (const [label, a, b, n] of rows) {
      console.log(
        `${label.padEnd(36)} server rss ${perConnection(a, b, n, 'rss').toFixed(1).padStart(6)} KiB, heap ${perConnection(a, b, n, 'heapUsed').toFixed(1).padStart(5)} KiB, ` +
          `external ${perConnection(a, b, n, 'external').toFixed(1).padStart(5)} KiB`,
      )
    }
    console.log(`client process (reference): rss ${((step2.memory.rss - clientBefore.rss) / total / KiB).toFixed(1)} KiB per connection`)
    const failed = step1.failed + step2.failed
    if (failed > 0) console.log(`${failed} connections failed; first: ${step1.firstFailure ?? step2.firstFailure}`)
    await client.ask({ cmd: 'close' }, 'closed')
    await server.ask({ cmd: 'close' }, 'closed')
    process.exitCode = failed === 0 && all.channels === total ? 0 : 1
  } finally {
    server.child.kill()
    client?.child.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (role === 'server') await runServer(process.argv[2], process.argv[3] === 'raw')
else if (role === 'client') await runClient(process.argv[2], process.argv[3] === 'raw')
else await main()
