/**
 * The item budget: a payload may hold at most maxFrameItems data items (2^20 by default), counted the
 * same way by the profile check, the fast decoder and the fast encoder, so that what one side sends
 * the other accepts, and a frame of tiny items cannot cost the receiver 100 times its size.
 */
import { describe, expect, onTestFinished, test } from 'vitest'
import { Channel, ProtocolError, SerializationError } from '../../src/index.js'
import { attachTransport } from '../../src/core/channel.js'
import { Codec } from '../../src/protocol/codec.js'
import { MessageType, type Message } from '../../src/protocol/messages.js'
import { profileViolation } from '../../src/protocol/profile.js'
import { memoryPair } from '../helpers/memory-transport.js'
import { within } from '../helpers/processes.js'

const DEFAULT = 1_048_576

/** `[2, 1, "x", [item × n]]` as bytes: a Call of 5 + n items (n + 4 with its top-level array). */
function callOf(item: number[], n: number): Uint8Array {
  const head = [0x84, 0x02, 0x01, 0x61, 0x78, 0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
  const payload = new Uint8Array(head.length + n * item.length)
  payload.set(head)
  for (let i = 0; i < n; i++) payload.set(item, head.length + i * item.length)
  return payload
}

function decodeFailure(codec: Codec, payload: Uint8Array): Error {
  try {
    codec.decode(payload)
  } catch (error) {
    return error as Error
  }
  throw new Error('decoded')
}

function encodeFailure(codec: Codec, message: unknown[]): Error {
  try {
    codec.encode(message as Message)
  } catch (error) {
    return error as Error
  }
  throw new Error('encoded')
}

/** The items of a payload, as the profile check counts them: the smallest budget it passes. */
function itemsOf(payload: Uint8Array): number {
  let low = 1
  let high = payload.byteLength * 20 + 20
  while (low < high) {
    const mid = (low + high) >> 1
    if (profileViolation(payload, mid) === undefined) high = mid
    else low = mid + 1
  }
  return low
}

const tiny = {
  'empty byte strings': [0x40],
  'empty Uint8Arrays (tag 64)': [0xd8, 0x40, 0x40],
  'empty arrays': [0x80],
  'empty maps': [0xa0],
  'empty strings': [0x60],
  'small integers': [0x00],
  'Dates (tag 1)': [0xc1, 0x00],
  'Error values (tag 27)': [0xd8, 0x1b, 0x82, 0x60, 0x60],
}

describe('a received payload of more than maxFrameItems data items is a ProtocolError', () => {
  test('a call of 2^20 + 1 empty byte strings is refused at its array head, before anything is built', () => {
    const payload = callOf([0x40], DEFAULT - 4)
    const codec = new Codec()
    const before = process.memoryUsage().heapUsed
    const t0 = process.hrtime.bigint()
    const error = decodeFailure(codec, payload)
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    const grown = process.memoryUsage().heapUsed - before
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toMatchInlineSnapshot(`"payload refused: more than 1048576 data items (maxFrameItems)"`)
    console.log(`${payload.byteLength} bytes of empty byte strings refused in ${ms.toFixed(2)} ms, heap ${(grown / 2 ** 20).toFixed(1)} MiB`)
    // One item fewer is decoded (a call of 2^20 items in all). Small integers: 8 MB, not 100.
    const [, , , args] = codec.decode(callOf([0x00], DEFAULT - 5)) as [number, number, string, unknown[]]
    expect(args).toHaveLength(DEFAULT - 5)
    expect(decodeFailure(codec, callOf([0x00], DEFAULT - 4))).toBeInstanceOf(ProtocolError)
  })

  test.each(Object.entries(tiny))('%s: exactly the budget passes, one more is refused, fast path or not', (_label, item) => {
    const budget = 1000
    const codec = new Codec({ maxFrameItems: budget })
    const perItem = itemsOf(callOf(item, 1)) - itemsOf(callOf(item, 0))
    const fits = Math.floor((budget - 5) / perItem)
    expect(() => codec.decode(callOf(item, fits))).not.toThrow()
    const error = decodeFailure(codec, callOf(item, fits + 1))
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toBe('payload refused: more than 1000 data items (maxFrameItems)')
  })

  test('many small containers, each well within the budget, count together', () => {
    // 400 arrays of two: 1 + 4 + 400 + 800 = 1205 items.
    const payload = new Codec().encode([MessageType.Call, 1, 'x', Array.from({ length: 400 }, () => [1, 2])])
    expect(itemsOf(payload)).toBe(1205)
    expect(() => new Codec({ maxFrameItems: 1205 }).decode(payload)).not.toThrow()
    expect(decodeFailure(new Codec({ maxFrameItems: 1204 }), payload)).toBeInstanceOf(ProtocolError)
  })

  test('a 16 MiB byte string is one item: large binaries stay cheap', () => {
    const codec = new Codec({ maxFrameItems: 6 })
    for (const value of [Buffer.alloc(16 * 2 ** 20, 1), new Uint8Array(16 * 2 ** 20)]) {
      const payload = new Codec().encode([MessageType.Result, 1, value])
      const [, , back] = codec.decode(payload) as [number, number, Uint8Array]
      expect(back.byteLength).toBe(16 * 2 ** 20)
    }
  })

  test('items are counted as documented: the top item, elements, keys and values, tag contents, 32 more per tag 27', () => {
    const codec = new Codec()
    const count = (value: unknown): number => itemsOf(codec.encode([MessageType.Result, 1, value]))
    expect(count(null)).toBe(4)
    expect(count([])).toBe(4)
    expect(count([1, 2])).toBe(6)
    expect(count({ a: 1, b: [] })).toBe(8)
    expect(count(new Uint8Array(1000))).toBe(5)
    expect(count(Buffer.alloc(1000))).toBe(4)
    expect(count(new Date(0))).toBe(5)
    expect(count(new Set([1, 2]))).toBe(7)
    expect(count(new Map([[1, 2]]))).toBe(7)
    expect(count(2n ** 70n)).toBe(5)
    expect(count(new Error('e'))).toBe(4 + 33 + 2)
    expect(count(/re/g)).toBe(4 + 33 + 3)
  })
})

describe('a sent payload of more than the peer’s maxFrameItems is a SerializationError for that message', () => {
  test('through the fast path: a result of 2^20 numbers', () => {
    const error = encodeFailure(new Codec(), [MessageType.Result, 1, new Array(DEFAULT - 3).fill(0)])
    expect(error).toBeInstanceOf(SerializationError)
    expect(error.message).toMatchInlineSnapshot(`"value cannot be sent: more than 1048576 data items (maxFrameItems)"`)
    expect(() => new Codec().encode([MessageType.Result, 1, new Array(DEFAULT - 4).fill(0)])).not.toThrow()
  })

  test('Dates and Sets (the fast path), Error values (cbor-x)', () => {
    const codec = new Codec({ peerMaxFrameItems: 100 })
    for (const value of [
      Array.from({ length: 49 }, () => new Date(0)),
      new Set(Array.from({ length: 97 }, (_, i) => i)),
      [new Error('a'), new Error('b'), new Error('c')],
    ]) {
      const error = encodeFailure(codec, [MessageType.Result, 1, value])
      expect(error).toBeInstanceOf(SerializationError)
      expect(error.message).toBe('value cannot be sent: more than 100 data items (maxFrameItems)')
    }
  })

  test('the sender counts exactly as the receiver, whichever path encodes', () => {
    const values: unknown[] = [
      [1, 'two', { three: [3, null, undefined, true] }, new Uint8Array(3), Buffer.alloc(2)],
      Array.from({ length: 50 }, (_, i) => ({ i, name: `n${i}` })),
      [new Date(0), new Map([[{ k: 1 }, [1, 2]]]), new Set(['a']), 2n ** 80n, -(2n ** 80n), 5n, new Float64Array(4)],
      [new Error('x'), /y/i, { nested: [new RangeError('z')] }],
      { deep: JSON.parse('['.repeat(80) + ']'.repeat(80)) as unknown },
    ]
    for (const value of values) {
      const message = [MessageType.Result, 7, value] as Message
      const payload = new Codec().encode(message)
      const items = itemsOf(payload)
      expect(() => new Codec({ peerMaxFrameItems: items }).encode(message)).not.toThrow()
      expect(encodeFailure(new Codec({ peerMaxFrameItems: items - 1 }), message)).toBeInstanceOf(SerializationError)
      expect(() => new Codec({ maxFrameItems: items }).decode(payload)).not.toThrow()
      expect(decodeFailure(new Codec({ maxFrameItems: items - 1 }), payload)).toBeInstanceOf(ProtocolError)
      // encodeData (large binaries kept out of the encoder) counts the same.
      const dataMessage = [MessageType.Result, 7, [value, new Uint8Array(70_000)]] as Message
      const dataItems = itemsOf(new Codec().encode(dataMessage))
      expect(() => new Codec({ peerMaxFrameItems: dataItems }).encodeData(dataMessage, 2)).not.toThrow()
      expect(() => new Codec({ peerMaxFrameItems: dataItems - 1 }).encodeData(dataMessage, 2)).toThrow(SerializationError)
    }
  })

  test('a small payload over a small limit is caught too, not only payloads over 1 KiB', () => {
    const codec = new Codec({ peerMaxFrameItems: 10 })
    expect(encodeFailure(codec, [MessageType.Result, 1, [new Date(0), new Date(0), new Date(0), new Date(0)]])).toBeInstanceOf(SerializationError)
    expect(encodeFailure(codec, [MessageType.Result, 1, [1, 2, 3, 4, 5, 6, 7]])).toBeInstanceOf(SerializationError)
    expect(() => codec.encode([MessageType.Result, 1, [1, 2, 3, 4, 5, 6]])).not.toThrow()
  })
})

describe('over a channel', () => {
  async function pair() {
    const [serverTransport, clientTransport] = memoryPair()
    const server = new Channel({ heartbeat: false })
    const client = new Channel({ heartbeat: false })
    onTestFinished(async () => {
      await Promise.all([server.destroy(), client.destroy()])
    })
    await Promise.all([attachTransport(server, serverTransport, 'server'), attachTransport(client, clientTransport, 'client')])
    return { server, client, clientTransport }
  }

  test('a call with 2^20 arguments fails on the caller’s side, and the channel goes on', async () => {
    const { server, client } = await pair()
    server.expose('count', (...args: unknown[]) => args.length)
    const error = await client.call('count', new Array(DEFAULT).fill(0)).then(
      () => undefined,
      (reason: unknown) => reason,
    )
    expect(error).toBeInstanceOf(SerializationError)
    expect(await client.rpc('count', 1, 2)).toBe(2)
    expect(client.connected).toBe(true)
  })

  test('a frame of 2^20 + 1 empty byte strings from the peer closes the channel with a ProtocolError', async () => {
    const { server, clientTransport } = await pair()
    // Whichever comes first: the channel failing, or the handler running with the decoded argument.
    const outcome = new Promise<Error | 'ran'>((resolve) => {
      server.once('error', resolve)
      server.expose('x', () => resolve('ran'))
    })
    // [2, 1, "x", [[h'' × n]]]: one argument, an array of 2^20 - 5 empty byte strings; 2^20 + 1 items.
    const n = DEFAULT - 5
    const inner = callOf([0x40], n)
    const payload = new Uint8Array(inner.byteLength + 1)
    payload.set(inner.subarray(0, 5))
    payload[5] = 0x81
    payload.set(inner.subarray(5), 6)
    clientTransport.inject(payload)
    const error = await within(10_000, outcome, 'the channel failing or the handler running')
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toBe('payload refused: more than 1048576 data items (maxFrameItems)')
  })
})
