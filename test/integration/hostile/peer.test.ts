/**
 * Hostile authenticated peers: a raw socket speaking the protocol tries to exceed each bound of a real
 * server process (test/fixtures/hostile-server.mjs), and the test measures what it cost the server:
 * handlers running at once, memory after collection, and the longest event-loop stall.
 */
import { describe, expect, test } from 'vitest'
import { mailbox, type Mailbox, type Report } from '../../helpers/mailbox.js'
import { underWine } from '../../helpers/platform.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { MessageType, encode, frame, helloFrame, messageFrame, rawConnect } from '../../helpers/wire.js'
import type { Memory } from '../faults/support.js'

const MiB = 1024 * 1024

interface HostileStats extends Report {
  stats: {
    active: number
    maxActive: number
    started: number
    notifyActive: number
    notifyMaxActive: number
    notifyStarted: number
    items: number
    progress: number
    errors: Record<string, number>
    channels: number
  }
  memory: Memory
  /** Longest event-loop stall since the previous stats, in ms. */
  stall: number
}

interface HostileServer {
  path: string
  mail: Mailbox
  baseline: Memory
  stats(): Promise<HostileStats>
}

async function startHostileServer(options: Record<string, unknown> = {}): Promise<HostileServer> {
  const path = tempSocket()
  const mail = mailbox(spawnFixture('hostile-server.mjs', [path, JSON.stringify(options)]))
  const listening = await mail.take<Report & { memory: Memory }>('listening', 15_000)
  return { path, mail, baseline: listening.memory, stats: () => mail.ask<HostileStats>({ cmd: 'stats' }, 'stats', 10_000) }
}

function grown(now: Memory, before: Memory): number {
  return now.heapUsed + now.external - (before.heapUsed + before.external)
}

/** A ping whose pong proves that every frame sent before it was handled. */
async function roundTrip(peer: Awaited<ReturnType<typeof rawConnect>>, token: number): Promise<void> {
  peer.socket.write(messageFrame([MessageType.Ping, token]))
  await peer.receive((m) => m[0] === MessageType.Pong && m[1] === token, 15_000)
}

/**
 * Samples the server until `value` stops changing over three samples 100 ms apart (at most `ms`):
 * the state a bounded producer reaches once it waits for the peer. Returns every sample.
 */
async function untilSteady(server: HostileServer, value: (s: HostileStats) => number, ms = 10_000): Promise<HostileStats[]> {
  const samples: HostileStats[] = []
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    samples.push(await server.stats())
    const last = samples.slice(-3).map(value)
    if (last.length === 3 && last[0] === last[2]) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return samples
}

describe('unauthenticated and malformed frames', () => {
  test('hellos full of Error values cost the server about what plain ones do: refused on their shape', async () => {
    const server = await startHostileServer({ secret: 'the secret' })
    const junk = Array.from({ length: 5000 }, () => new Error('x'))
    // 55 KB each, within maxHandshakeBytes: 5,000 Error values that the general decoder would build.
    const hello = messageFrame([MessageType.Hello, 'ipc-channel', 1, new Uint8Array(32), { junk }])
    const peers = await Promise.all(Array.from({ length: 48 }, () => rawConnect(server.path)))
    await server.stats()
    for (const peer of peers) peer.socket.write(hello)
    await Promise.all(peers.map((peer) => peer.closed))
    const { stall, stats } = await server.stats()
    expect(stats.errors.ProtocolError).toBe(48)
    // Through the general decoder each took 110-130 ms of the event loop, and bursts of them seconds;
    // refused on the bytes, well under 1 ms each (the bound leaves room for a loaded machine).
    expect(stall).toBeLessThan(1000)
  })

  test('an id written as a float is refused, even when its value is a whole number', async () => {
    const server = await startHostileServer()
    const peer = await rawConnect(server.path)
    // [2, 1.0 (float64), "echo", ["x"]]: decoded, the id is the number 1; on the wire it is no integer.
    const call = Buffer.concat([Buffer.from([0x84, 0x02, 0xfb]), Buffer.from(new Float64Array([1]).buffer).reverse(), encode('echo'), encode(['x'])])
    peer.socket.write(Buffer.concat([helloFrame(), frame(call)]))
    expect(await server.mail.take('server-error')).toMatchObject({ name: 'ProtocolError', message: 'malformed call message' })
    await peer.closed
  })
})

describe('handler slots', () => {
  test('Call+Cancel pairs to a handler that ignores its signal never run more than maxConcurrentCalls at once', async () => {
    const server = await startHostileServer({ maxConcurrentCalls: 64, maxWaitingCalls: 64 })
    const peer = await rawConnect(server.path)
    const frames = [helloFrame()]
    for (let id = 1; id <= 2000; id++) {
      frames.push(messageFrame([MessageType.Call, id, 'ignoreSignal', []]))
      frames.push(messageFrame([MessageType.Cancel, id, { type: 'value', value: 'stop' }]))
    }
    peer.socket.write(Buffer.concat(frames))
    await roundTrip(peer, 1)
    const { stats } = await server.stats()
    // Cancelled handlers still run: they hold their slots, and the rest waited and were cancelled.
    expect(stats.maxActive).toBe(64)
    expect(stats.started).toBe(64)
  })

  test('notifications to a slow async handler never run more than maxConcurrentCalls at once; beyond the queue they are dropped and reported', async () => {
    const server = await startHostileServer({ maxConcurrentCalls: 32, maxWaitingCalls: 32 })
    const peer = await rawConnect(server.path)
    const frames = [helloFrame()]
    for (let i = 0; i < 3000; i++) frames.push(messageFrame([MessageType.Notify, 'slowNotify', [60_000]]))
    peer.socket.write(Buffer.concat(frames))
    await roundTrip(peer, 1)
    const { stats } = await server.stats()
    expect(stats.notifyMaxActive).toBe(32)
    expect(stats.notifyStarted).toBe(32)
    expect(stats.errors.BufferFullError).toBe(3000 - 64)
    // The channel goes on, and calls do not wait behind notifications: they have slots of their own.
    peer.socket.write(messageFrame([MessageType.Call, 1, 'echo', ['still here']]))
    expect(await peer.receive((m) => m[0] === MessageType.Result && m[1] === 1)).toEqual([MessageType.Result, 1, 'still here'])
  })

  test('a call id that is already waiting is a protocol error, not a second call', async () => {
    const server = await startHostileServer({ maxConcurrentCalls: 2 })
    const peer = await rawConnect(server.path)
    const frames = [helloFrame(), messageFrame([MessageType.Call, 1, 'ignoreSignal', []]), messageFrame([MessageType.Call, 2, 'ignoreSignal', []])]
    for (let i = 0; i < 50; i++) frames.push(messageFrame([MessageType.Call, 7, 'ignoreSignal', []]))
    peer.socket.write(Buffer.concat(frames))
    const error = await server.mail.take('server-error')
    expect(error).toMatchObject({ name: 'ProtocolError', message: 'call id 7 is already waiting for a handler slot' })
    await peer.closed
    const { stats } = await server.stats()
    expect(stats.started).toBe(2)
  })
})

describe('streams and progress respect the socket', () => {
  test('a hello announcing an absurd stream window is refused', async () => {
    const server = await startHostileServer()
    const peer = await rawConnect(server.path)
    peer.socket.write(helloFrame({ window: 2 ** 32 - 1 }))
    const error = await server.mail.take('server-error')
    expect(error).toMatchObject({ name: 'ProtocolError', message: 'hello announces a stream window of 4294967295, above the maximum of 65536' })
    await peer.closed
  })

  test('a hello announcing a frame limit below the minimum is refused', async () => {
    const server = await startHostileServer()
    const peer = await rawConnect(server.path)
    peer.socket.write(helloFrame({ window: 64, maxFrameSize: 128 }))
    const error = await server.mail.take('server-error')
    expect(error).toMatchObject({ name: 'ProtocolError', message: 'hello announces a maxFrameSize of 128, below the minimum of 1024' })
    await peer.closed
  })

  test('a huge credit grant to an endless generator, from a peer that stops reading: the pump waits for the socket', async () => {
    const server = await startHostileServer({ maxBufferedBytes: 4 * MiB })
    const peer = await rawConnect(server.path, { read: false })
    peer.socket.write(
      Buffer.concat([helloFrame(), messageFrame([MessageType.Call, 1, 'endless', [1024]]), messageFrame([MessageType.Credit, 1, 2 ** 32 - 1])]),
    )
    const samples = await untilSteady(server, (s) => s.stats.items)
    const last = samples[samples.length - 1]
    expect(last.stats.items).toBeGreaterThan(0)
    // Stopped: it waits for the peer, whose socket is full. What it holds is near the budget.
    expect(samples.slice(-3).map((s) => s.stats.items)).toEqual(Array(3).fill(last.stats.items))
    expect(Math.max(...samples.map((s) => s.stall))).toBeLessThan(1000)
    expect(grown(last.memory, server.baseline)).toBeLessThan(32 * MiB)
  })

  test('progress to a caller that does not read is coalesced: memory stays bounded and the latest report still arrives before the result', async () => {
    const server = await startHostileServer({ maxBufferedBytes: 4 * MiB })
    const peer = await rawConnect(server.path)
    peer.socket.pause()
    peer.socket.write(Buffer.concat([helloFrame(), messageFrame([MessageType.Call, 1, 'progressFlood', [1500, 4096]])]))
    const samples = await untilSteady(server, (s) => s.stats.progress)
    const reports = samples[samples.length - 1].stats.progress
    expect(reports).toBeGreaterThan(1000)
    expect(Math.max(...samples.map((s) => grown(s.memory, server.baseline)))).toBeLessThan(48 * MiB)
    expect(Math.max(...samples.map((s) => s.stall))).toBeLessThan(1000)
    peer.socket.resume()
    const result = await peer.receive((m) => m[0] === MessageType.Result && m[1] === 1, 15_000)
    expect(result[2]).toBe(reports)
    const progress = peer.messages.filter((m) => Array.isArray(m) && m[0] === MessageType.Progress)
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.length).toBeLessThan(reports)
    expect(peer.messages.indexOf(progress[progress.length - 1])).toBeLessThan(peer.messages.indexOf(result))
  })
})

describe('queued frames are counted at what they cost', () => {
  test('a ping flood from a peer that never reads keeps the server near maxBufferedBytes', async () => {
    const server = await startHostileServer({ maxBufferedBytes: 4 * MiB, heartbeat: false })
    const peer = await rawConnect(server.path, { read: false })
    const ping = frame(encode([MessageType.Ping, 1]))
    const burst = Buffer.concat(Array(100_000).fill(ping))
    peer.socket.write(helloFrame())
    // 2,000,000 pings: 14 MB on the wire, 2,000,000 pongs queued if nothing held them back.
    for (let i = 0; i < 20; i++) peer.socket.write(burst)
    // The server stops reading once what it holds reaches the budget: then this side's buffer stops draining.
    const pending: number[] = []
    const samples: HostileStats[] = []
    for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
      samples.push(await server.stats())
      pending.push(peer.socket.writableLength)
      if (pending.length >= 3 && pending[pending.length - 3] === pending[pending.length - 1]) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // Wine's pipes take every write whether or not the server reads (it then receives the 14 MB in one
    // chunk): no pushback to see there, but the memory bound holds (one-chunk.test.ts).
    if (!underWine) expect(peer.socket.writableLength).toBeGreaterThan(0)
    expect(Math.max(...samples.map((s) => grown(s.memory, server.baseline)))).toBeLessThan(24 * MiB)
  })
})
