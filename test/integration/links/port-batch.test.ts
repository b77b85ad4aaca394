/**
 * The `batch` feature over real worker_threads ports (PROTOCOL.md section 2.2): the payloads of one tick
 * in one post, or in several once a post is full, a hostile batch closing its channel only, and a peer written from version 1 of the
 * protocol, which announces no feature, served as before.
 */
import { join } from 'node:path'
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { describe, expect, onTestFinished, test } from 'vitest'
import { ProtocolError, fromMessagePort, type Channel } from '../../../dist/index.js'
import { BATCH_POST_BYTES, BATCH_POST_PAYLOADS } from '../../../dist/transports/message-port.js'
import { MAX_BATCH_APART, MAX_BATCH_PAYLOADS, unpack } from '../../../dist/transports/port-batch.js'
import { fixturesDir } from '../../helpers/processes.js'
import { DEADLINE_MS, connected, within } from './scenarios.js'

/** A worker running `fixture` with a port of a new MessageChannel; the other port is returned. */
function worker(fixture: string, workerData: Record<string, unknown> = {}): { worker: Worker; port: MessagePort } {
  const { port1, port2 } = new MessageChannel()
  const started = new Worker(join(fixturesDir, fixture), { workerData: { ...workerData, port: port2 }, transferList: [port2] })
  onTestFinished(async () => {
    port1.close()
    await started.terminate()
  })
  return { worker: started, port: port1 }
}

/** A channel to a worker exposing the link API, with what this side posts and receives recorded. */
async function linkWorker(): Promise<{ channel: Channel; posted: unknown[]; counts: number[]; arrived: unknown[] }> {
  const { port } = worker('link-worker.mjs')
  const posted: unknown[] = []
  // Payloads per post, counted before the post: a transferred buffer is empty after.
  const counts: number[] = []
  const arrived: unknown[] = []
  const post = port.postMessage.bind(port)
  port.postMessage = (data: unknown, transferList?: readonly Transferable[]) => {
    posted.push(data)
    counts.push(payloadsIn(data))
    post(data, transferList as never)
  }
  port.on('message', (data: unknown) => arrived.push(data))
  const channel = fromMessagePort(port)
  onTestFinished(() => channel.destroy())
  await connected(channel)
  // The hellos and anything else of the handshake are not what these tests look at.
  posted.length = 0
  counts.length = 0
  arrived.length = 0
  return { channel, posted, counts, arrived }
}

/** How many payloads a port message carries. */
function payloadsIn(data: unknown): number {
  if (data instanceof Uint8Array) return 1
  const payloads = unpack(data as unknown[], Infinity)
  if (typeof payloads === 'string') throw new Error(payloads)
  return payloads.length
}

describe('batches', () => {
  test('the calls made in one tick leave in one post, and their results come back in one', async () => {
    const { channel, posted, arrived } = await linkWorker()
    const sums = await within(DEADLINE_MS, Promise.all(Array.from({ length: 20 }, (_, i) => channel.rpc('add', i, i))), 'the calls')
    expect(sums).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i))
    expect(posted).toHaveLength(1)
    expect(Array.isArray(posted[0])).toBe(true)
    expect(payloadsIn(posted[0])).toBe(20)
    expect(arrived).toHaveLength(1)
    expect(payloadsIn(arrived[0])).toBe(20)
  })

  test(`a batch leaves as soon as it holds ${BATCH_POST_PAYLOADS} payloads, before the end of the tick`, async () => {
    const { channel, counts, arrived } = await linkWorker()
    const calls = Array.from({ length: 2 * BATCH_POST_PAYLOADS + 6 }, (_, i) => channel.rpc('add', i, 1))
    // Posted while the calls were made, synchronously: the peer can start on them.
    expect(counts).toEqual([BATCH_POST_PAYLOADS, BATCH_POST_PAYLOADS])
    expect(await within(DEADLINE_MS, Promise.all(calls), 'the calls')).toEqual(calls.map((_, i) => i + 1))
    expect(counts).toEqual([BATCH_POST_PAYLOADS, BATCH_POST_PAYLOADS, 6])
    // The peer answered each post as it came, in batches of its own of at most as many.
    expect(arrived.map(payloadsIn).reduce((a, b) => a + b)).toBe(calls.length)
    for (const data of arrived) expect(payloadsIn(data)).toBeLessThanOrEqual(BATCH_POST_PAYLOADS)
  })

  test(`a batch leaves as soon as it holds ${BATCH_POST_BYTES} bytes`, async () => {
    const { channel, counts } = await linkWorker()
    const argument = 'x'.repeat(3000)
    const calls = Array.from({ length: 7 }, () => channel.rpc('echo', argument))
    // Three calls of about 3 KB each pass the mark: two posts of three, then one at the end of the tick.
    expect(counts).toEqual([3, 3])
    expect(await within(DEADLINE_MS, Promise.all(calls), 'the calls')).toEqual(calls.map(() => argument))
    expect(counts).toEqual([3, 3, 1])
  })

  test('a lone payload is posted as a Uint8Array of its own', async () => {
    const { channel, posted } = await linkWorker()
    expect(await within(DEADLINE_MS, channel.rpc('add', 1, 2), 'add')).toBe(3)
    expect(posted).toHaveLength(1)
    const bytes = posted[0] as Uint8Array
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(bytes.byteLength).toBe(bytes.buffer.byteLength)
  })
})

describe('a hostile batch closes its channel with ProtocolError, and no other', () => {
  const one = (bytes: number): number[] => [0, 0, 0, bytes]
  const records = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes)
  test.each([
    ['an element that is not a Uint8Array', [records(...one(1), 0xf6), 'not bytes'], /element 1 of a batch is not a Uint8Array/],
    ['records that are not a Uint8Array', [[1, 2, 3]], /does not start with a Uint8Array/],
    [
      'a payload over maxFrameSize',
      [records(0, 0, 0x13, 0x88, ...new Uint8Array(5000))],
      /a payload of 5000 bytes or more exceeds maxFrameSize \(4096\)/,
    ],
    ['a content apart over maxFrameSize', [records(0x80, 0, 0, 1, 0x81, 0, 0, 0, 0), new Uint8Array(5000)], /exceeds maxFrameSize \(4096\)/],
    ['too many payloads', [records(...Array.from({ length: MAX_BATCH_PAYLOADS + 1 }, () => [...one(1), 0xf6]).flat())], /more than 1024 payloads/],
    [
      'too many contents apart',
      [records(...one(1), 0xf6), ...Array.from({ length: MAX_BATCH_APART + 1 }, () => new Uint8Array(1))],
      /contents apart, more than 1024/,
    ],
    ['a truncated record', [records(0, 0, 0, 9, 0xf6)], /runs past the end of a batch/],
  ])('%s', async (_, post, problem) => {
    const bystander = await linkWorker()
    const { port } = worker('port-peer.mjs', { mode: 'hostile', post })
    const victim = fromMessagePort(port, { maxFrameSize: 4096 })
    onTestFinished(() => victim.destroy())
    const failed = new Promise<Error>((resolve) => victim.once('error', resolve))
    const gone = new Promise<void>((resolve) => victim.once('disconnect', () => resolve()))
    const error = await within(DEADLINE_MS, failed, 'the error event')
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatch(/^malformed port message: /)
    expect(error.message).toMatch(problem)
    await within(DEADLINE_MS, gone, 'the disconnect')
    expect(await within(DEADLINE_MS, bystander.channel.rpc('add', 1, 2), 'a call on another channel')).toBe(3)
  })
})

test('a peer that announces no features (version 1) gets one payload a port message, and is served', async () => {
  const { worker: peer, port } = worker('port-peer.mjs', { mode: 'version1', calls: 5, noise: ['other', 'traffic'] })
  const results: unknown[] = []
  const fiveResults = new Promise<void>((resolve) =>
    peer.on('message', (message: { result?: unknown }) => {
      if (message.result !== undefined && results.push(message.result) === 5) resolve()
    }),
  )
  const channel = fromMessagePort(port)
  onTestFinished(() => channel.destroy())
  channel.expose('add', (a: number, b: number) => a + b)
  // The peer answers any call with its arguments.
  const answers = await within(DEADLINE_MS, Promise.all(Array.from({ length: 20 }, (_, i) => channel.rpc('anything', i, 'x'))), 'the calls')
  expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => [i, 'x']))
  await within(DEADLINE_MS, fiveResults, "the peer's results")
  expect(results).toEqual([1, 2, 3, 4, 5].map((id) => [4, id, 2 * id]))
  const seen = new Promise<unknown>((resolve) => peer.on('message', (message: { seen?: unknown }) => message.seen && resolve(message.seen)))
  peer.postMessage('seen')
  // Its hello, 20 calls, 5 results: each a Uint8Array, nothing else.
  expect(await within(DEADLINE_MS, seen, 'what the peer saw')).toEqual({ uint8Array: 26, array: 0, other: 0 })
})
