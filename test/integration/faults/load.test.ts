/**
 * Fault tests: load and pressure. Many connections from several processes, the concurrency cap on
 * incoming calls, and peers that stop reading while the other side keeps producing frames.
 */
import { createServer, type Socket } from 'node:net'
import { describe, expect, onTestFinished, test } from 'vitest'
import { Client } from '../../../dist/index.js'
import { netPath } from '../../helpers/address.js'
import { mailbox, type Report } from '../../helpers/mailbox.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { MessageType, helloFrame, messageFrame, rawConnect } from '../../helpers/wire.js'
import { startFaultServer, within, type Memory } from './support.js'

const MiB = 1024 * 1024
const KiB = 1024

describe('many connections', () => {
  test('200 connections from 4 client processes all call without failure; the server sees 200 channels', async () => {
    const server = await startFaultServer({ secret: 'shared' })
    const processes = Array.from({ length: 4 }, () => {
      const fixture = spawnFixture('faults-clients.mjs', [server.path, JSON.stringify({ connections: 50, calls: 20, secret: 'shared' })])
      return mailbox(fixture)
    })
    const ready = await Promise.all(
      processes.map((mail) =>
        Promise.race([
          mail.take('ready', 20_000),
          mail.take('ready-failed', 20_000).then((m) => {
            throw new Error(`a client process failed to connect: ${JSON.stringify(m)}`)
          }),
        ]),
      ),
    )
    expect(ready.map((m) => m.count)).toEqual([50, 50, 50, 50])
    // A client is ready once it has checked the server's proof; the server may still be checking the
    // client's. Its 200th 'connection' comes a moment later, if not already.
    await server.mail.take('connection', 10_000, (m) => m.count === 200)
    expect(await server.mail.ask({ cmd: 'channels' }, 'channels')).toMatchObject({ count: 200 })
    const done = await Promise.all(processes.map((mail) => mail.ask<Report & { ok: number; failed: number }>({ cmd: 'go' }, 'done', 20_000)))
    for (const result of done) expect(result).toMatchObject({ ok: 1000, failed: 0 })
    const { stats } = await server.stats()
    expect(stats.connections).toBe(200)
    expect(stats.unexpected).toEqual([])
    await Promise.all(processes.map((mail) => mail.ask({ cmd: 'close' }, 'closed')))
  })
})

describe('maxConcurrentCalls', () => {
  test('with a cap of 4, 20 slow calls run at most 4 at a time and complete in order of arrival', async () => {
    const server = await startFaultServer({ maxConcurrentCalls: 4 })
    const client = new Client(server.path)
    onTestFinished(() => client.destroy())
    await client.ready()
    const completed: number[] = []
    const startedAt = Date.now()
    const calls = Array.from({ length: 20 }, (_, i) => client.rpc<number>('slow', i, 40).then((value) => completed.push(value)))
    await within(10_000, Promise.all(calls), 'the slow calls')
    const elapsed = Date.now() - startedAt
    const { stats } = await server.stats()
    expect(stats.maxActive).toBe(4)
    expect(stats.starts).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(completed).toEqual(Array.from({ length: 20 }, (_, i) => i))
    // Five rounds of four: no round can start before the previous one finished.
    expect(elapsed).toBeGreaterThanOrEqual(5 * 40 - 10)
  })
})

/**
 * A Unix socket server in the test process that completes the handshake with whoever connects and
 * then stops reading for good: the slowest reader there is.
 */
function startStalledReader(): { path: string; accepted: Promise<Socket> } {
  const path = tempSocket('reader.sock')
  let resolve!: (socket: Socket) => void
  const accepted = new Promise<Socket>((r) => (resolve = r))
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', () => {
      // The peer's hello is in: answer it, and read nothing more.
      socket.pause()
      socket.write(helloFrame())
      resolve(socket)
    })
  })
  server.listen(netPath(path))
  onTestFinished(
    () =>
      new Promise<void>((done) => {
        server.close(() => done())
        void accepted.then((socket) => socket.destroy())
      }),
  )
  return { path, accepted }
}

describe('a peer that stops reading', () => {
  test('the calling side refuses calls with BufferFullError at maxBufferedBytes and its memory stays bounded', async () => {
    const reader = startStalledReader()
    const size = 64 * KiB
    const maxBufferedBytes = 1 * MiB
    const rounds = 64
    const perRound = 32
    const writer = mailbox(
      spawnFixture('faults-writer.mjs', [reader.path, JSON.stringify({ maxBufferedBytes, size, rounds, perRound })], {
        MALLOC_MMAP_THRESHOLD_: String(128 * KiB),
      }),
    )
    const { memory: baseline } = await writer.take<Report & { memory: Memory }>('ready')
    const socket = await reader.accepted
    const filled = await writer.ask<Report & { attempts: number; accepted: number; refused: number; other: number; memory: Memory }>(
      { cmd: 'go' },
      'filled',
      20_000,
    )
    // 2,048 calls of 64 KiB were attempted: 128 MiB that the peer never reads.
    expect(filled.attempts).toBe(rounds * perRound)
    expect(filled.other).toBe(0)
    expect(filled.refused).toBeGreaterThan(0)
    expect(filled.accepted + filled.refused).toBe(filled.attempts)
    // Accepted: what the kernel socket buffers took, plus at most maxBufferedBytes queued in the process.
    expect(filled.accepted * size).toBeLessThan(maxBufferedBytes + 2 * MiB)
    // Memory bound. What the writer retains: the outbox, at most maxBufferedBytes (1 MiB) of frames,
    // which are views into the encoder's blocks (a block holds about three 64 KiB frames, so the views
    // pin at most ~1.4 MiB), one frame in the socket's own buffer, and the encoder's working block
    // (cbor-x grows it by 4 KiB whenever a frame does not fit, so it creeps to a few MiB over 2,048
    // encodes). That is under 8 MiB of ArrayBuffers; an unbounded queue would hold all 128 MiB.
    // RSS gets 16 MiB over its baseline for V8 and allocator slack. The fixture runs with glibc's mmap
    // threshold at 128 KiB so that freed encoder blocks go back to the system and RSS measures what is
    // retained, not the allocator's high-water mark of 128 MiB of short-lived garbage.
    const growth = filled.memory.rss - baseline.rss
    expect(growth, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(16 * MiB)
    expect(filled.memory.arrayBuffers - baseline.arrayBuffers).toBeLessThan(8 * MiB)
    // The calls that were accepted are still pending; they settle as soon as the connection goes.
    const settled = writer.take<Report & { closed: number; total: number }>('settled')
    socket.destroy()
    expect(await settled).toMatchObject({ closed: filled.accepted, total: filled.accepted })
  })

  test('the answering side: a caller that never reads its replies cannot grow the server without bound', async () => {
    const maxBufferedBytes = 1 * MiB
    // Same glibc setting as above, so that RSS measures what the server retains.
    const server = await startFaultServer({ maxBufferedBytes, heartbeat: false }, undefined, { MALLOC_MMAP_THRESHOLD_: String(128 * KiB) })
    const { memory: baseline } = await server.stats()
    const payload = Buffer.alloc(64 * KiB, 3)
    const flood = await floodCalls(server.path, (id) => messageFrame([MessageType.Call, id, 'echo', [payload]]))
    const { memory } = await server.stats()
    const growth = memory.rss - baseline.rss
    // The server's outgoing replies are what the peer refuses to read: they must be bounded like calls,
    // by maxBufferedBytes and by no longer reading from a peer that does not read.
    expect(growth, `${flood}, server RSS grew ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(32 * MiB)
  })

  test('calls beyond maxConcurrentCalls that wait for a slot cannot grow the server without bound', async () => {
    // Calls past the waiting bound are read and dropped, so 128 MiB of 64 KiB chunks pass through the
    // server: with glibc's mmap threshold below their size, freed chunks go back to the system and RSS
    // shows what is retained rather than the allocator's high-water mark.
    const server = await startFaultServer({ maxConcurrentCalls: 4, maxWaitingCalls: 64, heartbeat: false }, undefined, {
      MALLOC_MMAP_THRESHOLD_: String(32 * KiB),
    })
    const { memory: baseline } = await server.stats()
    const payload = Buffer.alloc(64 * KiB, 4)
    // Four calls take the slots for a minute; 64 more wait, holding their 64 KiB arguments (4 MiB);
    // every later one is answered at once with BufferFullError and its argument dropped.
    const marker = messageFrame([MessageType.Notify, 'count', []])
    const flood = await floodCalls(server.path, (id) => messageFrame([MessageType.Call, id, 'slow', [id, 60_000, payload]]), marker)
    let { stats, memory } = await server.stats()
    // Each stats request is a round trip to the fixture: ask until the marker has been handled.
    while (stats.counted === 0) ({ stats, memory } = await server.stats())
    expect(stats.maxActive).toBe(4)
    // Unbounded waiting would retain the whole 128 MiB flood. Bounded, the server retains the waiting
    // arguments and bookkeeping; RSS also carries the V8 and allocator high-water mark of 128 MiB
    // passing through, hence its looser bound.
    const retained = memory.heapUsed + memory.external - (baseline.heapUsed + baseline.external)
    const growth = memory.rss - baseline.rss
    const described = `${flood}, server retained ${(retained / MiB).toFixed(1)} MiB, RSS grew ${(growth / MiB).toFixed(1)} MiB`
    expect(retained, described).toBeLessThan(16 * MiB)
    expect(growth, described).toBeLessThan(64 * MiB)
  })
})

/**
 * From a raw socket that never reads: a hello, then up to 2,048 calls of about 64 KiB (128 MiB),
 * written with backpressure, until all are out or the server has taken nothing for half a second (what
 * a server that bounds its memory does: it stops reading). Describes what happened.
 */
async function floodCalls(path: string, call: (id: number) => Buffer, marker?: Buffer): Promise<string> {
  const peer = await rawConnect(path, { read: false })
  const socket = peer.socket
  socket.write(helloFrame())
  let sent = 0
  let stalled = false
  const deadline = Date.now() + 8000
  for (let id = 1; id <= 2048 && Date.now() < deadline; id++) {
    if (!socket.write(call(id))) {
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => socket.once('drain', () => resolve(true))),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500)),
      ])
      if (!drained) {
        stalled = true
        break
      }
    }
    sent = id
  }
  // Frames are handled in order: once the server has handled the marker, it has handled the flood.
  if (marker && !stalled) socket.write(marker)
  return `sent ${sent} calls (${((sent * 64) / 1024).toFixed(0)} MiB), stalled: ${stalled}`
}
