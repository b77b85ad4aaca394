/**
 * transfer(): over a real worker_threads MessageChannel with a real Worker, the listed buffers move to
 * the other side (detached on the sender, intact on arrival, in both directions and for stream items);
 * where nothing can be transferred (a Unix socket, a port told it cannot, a peer without batches) the
 * value is sent as without it and the buffer stays usable.
 */
import { join } from 'node:path'
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { describe, expect, onTestFinished, test } from 'vitest'
import { connect, fromMessagePort, listen, transfer, type Channel } from '../../../dist/index.js'
import { fixturesDir, tempSocket } from '../../helpers/processes.js'
import { DEADLINE_MS, connected, within } from './scenarios.js'

/** A Worker on `fixture` with one port of a new MessageChannel; the other port, and the transfer lists this side posts. */
function worker(fixture: string, workerData: Record<string, unknown> = {}): { worker: Worker; port: MessagePort; transferred: unknown[][] } {
  const { port1, port2 } = new MessageChannel()
  const started = new Worker(join(fixturesDir, fixture), { workerData: { ...workerData, port: port2 }, transferList: [port2] })
  onTestFinished(async () => {
    port1.close()
    await started.terminate()
  })
  const transferred: unknown[][] = []
  const post = port1.postMessage.bind(port1)
  port1.postMessage = (data: unknown, transferList?: readonly Transferable[]) => {
    if (transferList !== undefined) transferred.push([...transferList])
    post(data, transferList as never)
  }
  return { worker: started, port: port1, transferred }
}

async function open(port: MessagePort, options: { transfer?: boolean } = {}): Promise<Channel> {
  const channel = fromMessagePort(port, options)
  onTestFinished(() => channel.destroy())
  await connected(channel)
  return channel
}

function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 7) % 251
  return bytes
}

/** The bytes as hex, compared as one string: a deep equality over a MiB of elements is slow. */
const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

describe('over a worker_threads port with a Worker', () => {
  test('an argument: the listed buffers are detached here and arrive intact, the others are copied', async () => {
    const { port, transferred } = worker('transfer-worker.mjs')
    const channel = await open(port)
    const large = pattern(1024 * 1024)
    const small = Uint8Array.of(1, 2, 3)
    const floats = new Float32Array([1.5, -2.25, 3])
    const unlisted = Uint8Array.of(4, 5, 6)
    const value = { large, small, floats, unlisted, n: 1 }
    const back = (await within(
      DEADLINE_MS,
      channel.rpc('echo', transfer(value, [large.buffer, small.buffer, floats.buffer])),
      'the echo',
    )) as typeof value
    expect([large.byteLength, small.byteLength, floats.byteLength]).toEqual([0, 0, 0])
    expect(unlisted).toEqual(Uint8Array.of(4, 5, 6))
    expect(transferred.some((list) => list.length === 3)).toBe(true)
    expect(hex(back.large)).toBe(hex(pattern(1024 * 1024)))
    expect(back.small).toEqual(Uint8Array.of(1, 2, 3))
    expect(back.floats).toEqual(new Float32Array([1.5, -2.25, 3]))
    expect(back.unlisted).toEqual(Uint8Array.of(4, 5, 6))
    expect(back.n).toBe(1)
  })

  test('transfer(bytes) lists its own buffer; a view arrives as a view of the whole buffer it was cut from', async () => {
    const { port } = worker('transfer-worker.mjs')
    const channel = await open(port)
    const bytes = pattern(100_000)
    expect(await within(DEADLINE_MS, channel.rpc('describe', transfer(bytes)), 'describe')).toEqual({
      type: 'Uint8Array',
      byteLength: 100_000,
      offset: 0,
      buffer: 100_000,
    })
    expect(bytes.byteLength).toBe(0)
    const whole = pattern(1000)
    const view = whole.subarray(100, 300)
    expect(await within(DEADLINE_MS, channel.rpc('describe', transfer(view)), 'describe')).toEqual({
      type: 'Uint8Array',
      byteLength: 200,
      offset: 100,
      buffer: 1000,
    })
    expect(whole.byteLength).toBe(0)
  })

  test('a marked buffer leaves at the end of the task, or at once when it fills a batch', async () => {
    const { port } = worker('transfer-worker.mjs')
    const channel = await open(port)
    const small = pattern(100)
    const large = pattern(64 * 1024)
    const smallEcho = channel.rpc('echo', transfer(small))
    // 100 bytes wait for the end of the task; 64 KiB is past the batch's 8 KiB and goes at once.
    expect(small.byteLength).toBe(100)
    const largeEcho = channel.rpc('echo', transfer(large))
    expect([small.byteLength, large.byteLength]).toEqual([0, 0])
    const [smallBack, largeBack] = (await within(DEADLINE_MS, Promise.all([smallEcho, largeEcho]), 'the echoes')) as Uint8Array[]
    expect(hex(smallBack)).toBe(hex(pattern(100)))
    expect(hex(largeBack)).toBe(hex(pattern(64 * 1024)))
  })

  test('a result and stream items marked in the Worker are detached there and arrive intact', async () => {
    const { port } = worker('transfer-worker.mjs')
    const channel = await open(port)
    const back = (await within(DEADLINE_MS, channel.rpc('transferBack', 200_000, 9), 'transferBack')) as { bytes: Uint8Array; floats: Float64Array }
    expect(back.bytes.byteLength).toBe(200_000)
    expect(back.bytes.every((byte) => byte === 9)).toBe(true)
    expect(back.floats).toEqual(new Float64Array([9, 4.5]))
    expect(await within(DEADLINE_MS, channel.rpc('handedOverLengths'), 'handedOverLengths')).toEqual([0, 0])
    const items: number[][] = []
    const stream = channel.rpc<unknown, Uint8Array>('transferItems', 3, 5000)
    await within(
      DEADLINE_MS,
      (async () => {
        for await (const item of stream) items.push([item.byteLength, item[0], item[4999]])
      })(),
      'the stream',
    )
    expect(items).toEqual([
      [5000, 0, 0],
      [5000, 1, 1],
      [5000, 2, 2],
    ])
    expect(await within(DEADLINE_MS, channel.rpc('handedOverLengths'), 'handedOverLengths')).toEqual([0, 0, 0])
  })

  test('a port that cannot transfer copies the value and leaves it usable', async () => {
    const { port, transferred } = worker('transfer-worker.mjs', { transfer: false })
    const channel = await open(port, { transfer: false })
    const bytes = pattern(100_000)
    const back = (await within(DEADLINE_MS, channel.rpc('echoTransferred', transfer(bytes)), 'the echo')) as Uint8Array
    expect(hex(bytes)).toBe(hex(pattern(100_000)))
    expect(hex(back)).toBe(hex(pattern(100_000)))
    expect(transferred).toEqual([])
    expect(await within(DEADLINE_MS, channel.rpc('handedOverLengths'), 'handedOverLengths')).toEqual([100_000])
  })

  test('a peer without batches (version 1) gets the value copied; the buffer stays usable', async () => {
    const { port } = worker('port-peer.mjs', { mode: 'version1' })
    const channel = await open(port)
    const bytes = pattern(100_000)
    // The peer answers any call with its arguments.
    const [back] = (await within(DEADLINE_MS, channel.rpc('anything', transfer(bytes)), 'the call')) as [Uint8Array]
    expect(hex(bytes)).toBe(hex(pattern(100_000)))
    expect(hex(back)).toBe(hex(pattern(100_000)))
  })
})

describe('over a Unix socket', () => {
  test('transfer() is accepted and the value sent as it is; the buffer stays usable, and is not transferred later', async () => {
    const path = tempSocket()
    const server = await listen(path)
    onTestFinished(() => server.close())
    server.expose('echo', (value: unknown) => value)
    const client = await connect(path)
    onTestFinished(() => client.close())
    const bytes = pattern(100_000)
    const small = Uint8Array.of(1, 2, 3)
    const back = (await within(DEADLINE_MS, client.rpc('echo', transfer({ bytes, small }, [bytes.buffer, small.buffer])), 'the echo')) as {
      bytes: Uint8Array
      small: Uint8Array
    }
    expect(hex(back.bytes)).toBe(hex(pattern(100_000)))
    expect(back.small).toEqual(Uint8Array.of(1, 2, 3))
    expect(hex(bytes)).toBe(hex(pattern(100_000)))
    // The mark was used by that message: over a port now, the buffer is copied, not handed over.
    const { port } = worker('transfer-worker.mjs')
    const channel = await open(port)
    expect(hex((await within(DEADLINE_MS, channel.rpc('echo', bytes), 'the echo over the port')) as Uint8Array)).toBe(hex(pattern(100_000)))
    expect(bytes.byteLength).toBe(100_000)
  })
})
