/**
 * The fast path on structured values (Date, Map, Set, typed arrays, BigInt, nested plain objects): the
 * bytes cbor-x writes with CODEC_OPTIONS, the values it reads, over chosen edge cases and a seeded
 * random corpus, and a hand-back to cbor-x for what it does not cover.
 */
import { describe, expect, test } from 'vitest'
import { Codec } from '../../src/protocol/codec.js'
import { SerializationError } from '../../src/protocol/errors.js'
import { GENERAL } from '../../src/protocol/fast-common.js'
import { fastDecode } from '../../src/protocol/fast-decode.js'
import { fastEncode } from '../../src/protocol/fast-encode.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'
import { MessageType } from '../../src/protocol/messages.js'
import { MAX_BIGNUM_BYTES } from '../../src/protocol/profile.js'
import {
  edgeBigInts,
  edgeNumbers,
  edgeTimes,
  encoder,
  hex,
  placed,
  randomTypedArray,
  randomValue,
  same,
  sameBytes,
  sameValue,
  typedArrayClasses,
} from '../helpers/cbor-corpus.js'
import { mulberry32 as random } from '../helpers/random.js'

/** The structured-object scenario's argument: 20 fields, one of them a Date. */
const record = {
  id: 1000,
  kind: 'order',
  status: 'shipped',
  customer: 'Ada Lovelace',
  email: 'ada@example.com',
  createdAt: new Date(1_700_000_000_123),
  quantity: 3,
  unitPrice: 19.99,
  total: 59.97,
  currency: 'EUR',
  paid: true,
  gift: false,
  note: null,
  tags: ['priority', 'fragile'],
  address: { street: '12 Analytical Way', city: 'London', zip: 'N1 9GU' },
  lines: 2,
  warehouse: 'LHR-4',
  carrier: 'dhl',
  tracking: 'JD014600006281234567',
  version: 7,
}

/** Typed arrays of every class, empty and not, views at every offset of a larger buffer, special floats. */
function typedArrayCases(): ArrayBufferView[] {
  const next = random(7)
  const cases: ArrayBufferView[] = []
  for (const type of typedArrayClasses) {
    cases.push(new type(0), new type(1), new type(24 / type.BYTES_PER_ELEMENT), new type(300))
    for (let i = 0; i < 6; i++) cases.push(randomTypedArray(next, type))
    const backing = new Uint8Array(64 * type.BYTES_PER_ELEMENT).map((_, i) => (i * 37) & 0xff)
    for (let first = 0; first < 5; first++) cases.push(new type(backing.buffer, first * type.BYTES_PER_ELEMENT, 5))
  }
  cases.push(new Float64Array([-0, NaN, Infinity, -Infinity, Number.MIN_VALUE]), new Float32Array([-0, NaN, 3.4e38]))
  cases.push(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]), new BigUint64Array([2n ** 64n - 1n]))
  // Bytes at odd offsets: Uint8Array and friends can sit anywhere.
  const bytes = new Uint8Array(40).map((_, i) => i)
  cases.push(bytes.subarray(1, 4), new Int8Array(bytes.buffer, 3, 7), new Uint8ClampedArray(bytes.buffer, 5, 9))
  cases.push(new Uint16Array(new SharedArrayBuffer(8)).fill(513))
  return cases
}

const maps = (): Map<unknown, unknown>[] => [
  new Map(),
  new Map([['a', 1]]),
  new Map<unknown, unknown>([
    [1, 'one'],
    [-1.5, 'float'],
    [true, null],
    [null, undefined],
    [undefined, true],
    [10n, 2n ** 70n],
    ['__proto__', { polluted: true }],
  ]),
  new Map<unknown, unknown>([
    [{ key: 'object' }, [1, 2]],
    [[1, 2], { value: 'array key' }],
    [new Date(0), new Set([1])],
    [new Map([[1, 2]]), new Map([[3, new Map()]])],
    [new Uint8Array([1, 2]), new Float32Array([0.5])],
  ]),
  new Map(Array.from({ length: 24 }, (_, i) => [`k${i}`, i])),
  new Map(Array.from({ length: 300 }, (_, i) => [i, `v${i}`])),
]

const sets = (): Set<unknown>[] => [
  new Set(),
  new Set([1, 'a', null, undefined, true, 2n, new Date(5), [1], { a: 1 }, new Uint16Array([1, 2])]),
  new Set([new Set([new Set()]), new Map([[new Set([1]), 'x']])]),
  new Set(Array.from({ length: 300 }, (_, i) => i * 3)),
]

describe('fast encode writes the bytes cbor-x writes, structured values too', () => {
  test.each(edgeTimes.map((ms) => [String(ms), ms]))('Date at %s ms', (_, ms) => {
    sameBytes(new Date(ms))
    sameBytes({ when: new Date(ms), list: [new Date(ms)] })
  })

  test.each(edgeBigInts.map((n) => [n.toString().slice(0, 24), n]))('BigInt %s', (_, n) => {
    sameBytes(n)
    sameBytes([n, { n }])
  })

  test('typed arrays of every class, at every offset of their buffers', () => {
    for (const array of typedArrayCases()) {
      try {
        sameBytes(array)
        sameBytes({ array, after: 1 })
      } catch (error) {
        throw new Error(`${array.constructor.name} of ${array.byteLength} bytes at ${array.byteOffset}: ${(error as Error).message}`)
      }
    }
  })

  test('Maps with keys of any type, and Sets of mixed members', () => {
    for (const map of maps()) sameBytes(map)
    for (const set of sets()) sameBytes(set)
  })

  test('nested plain objects: the 20-field record, and everything inside everything', () => {
    sameBytes(record)
    sameBytes([MessageType.Call, 1, 'save', [record]])
    const all = { record, maps: maps(), sets: sets(), arrays: typedArrayCases(), bigints: edgeBigInts, dates: edgeTimes.map((ms) => new Date(ms)) }
    sameBytes(all)
    sameBytes(new Map([['all', all]]))
  })

  test('3,000 random values (seed 11)', () => {
    const next = random(11)
    for (let i = 0; i < 3000; i++) {
      const value = randomValue(next)
      try {
        sameBytes(value)
      } catch (error) {
        throw new Error(`value ${i}: ${(error as Error).message}`)
      }
    }
  })

  test('large typed arrays become chunks of their own, not copied', () => {
    const samples = new Float64Array(10_000).map((_, i) => i / 3)
    const value = [MessageType.Result, 1, { samples, small: new Int16Array(4) }]
    const payload = fastEncode(value, 65_536) as Payload
    expect(Array.isArray(payload)).toBe(true)
    expect((payload as Uint8Array[]).some((chunk) => chunk.buffer === samples.buffer)).toBe(true)
    expect(hex(joinPayload(payload))).toBe(hex(encoder.encode(value)))
  })

  test('what it does not cover is handed back whole, and the codec still sends it', () => {
    class Stamp extends Date {
      constructor(ms: number) {
        super(ms)
      }
    }
    class Registry extends Map<number, number> {}
    class Members extends Set<number> {}
    class Samples extends Float64Array {}
    const codec = new Codec()
    for (const value of [
      new Stamp(0),
      new Registry([[1, 2]]),
      new Members([1]),
      new Samples(2),
      { constructor: Date },
      { constructor: Map, size: 0 },
      { constructor: Set },
      { constructor: Float64Array, buffer: new ArrayBuffer(8), byteOffset: 0, byteLength: 8 },
      new DataView(new ArrayBuffer(4)),
      [new Date(0), new Error('not covered')],
      new Map([[1, /not covered/]]),
      new Set([Symbol.iterator]),
    ]) {
      expect(fastEncode(value), String(value?.constructor?.name)).toBeUndefined()
      try {
        codec.encode([MessageType.Result, 1, value])
      } catch (error) {
        // Only what cbor-x refuses: an own `constructor` that is a function, a symbol.
        expect(error).toBeInstanceOf(SerializationError)
      }
    }
    sameBytes([1, 'after'])
  })

  test('a bignum beyond the profile is handed back, and the codec refuses to send it', () => {
    const tooLarge = 2n ** BigInt(8 * MAX_BIGNUM_BYTES)
    expect(fastEncode(tooLarge)).toBeUndefined()
    expect(fastEncode(-tooLarge - 1n)).toBeUndefined()
    expect(() => new Codec().encode([MessageType.Result, 1, tooLarge])).toThrow(
      /value cannot be sent: a bignum must be a byte string of at most 1024 bytes/,
    )
  })

  test('a Map that changes while it is written is handed back', () => {
    const map = new Map<string, unknown>()
    map.set('a', {
      get grow() {
        map.set('b', 2)
        return 1
      },
    })
    expect(fastEncode(map)).toBeUndefined()
  })

  test('a Set is taken before its members are written, as cbor-x takes it', () => {
    const set = new Set<unknown>()
    set.add({
      get grow() {
        set.add('late')
        return 1
      },
    })
    const fast = fastEncode(set) as Uint8Array
    set.delete('late')
    expect(hex(fast)).toBe(hex(encoder.encode(set)))
  })
})

describe('fast decode reads the values cbor-x reads, structured values too', () => {
  test('Dates, BigInts, Maps, Sets, typed arrays, the record', () => {
    for (const ms of edgeTimes) sameValue(encoder.encode(new Date(ms)))
    for (const n of edgeBigInts) sameValue(encoder.encode(n))
    for (const map of maps()) sameValue(encoder.encode(map))
    for (const set of sets()) sameValue(encoder.encode(set))
    for (const array of typedArrayCases()) sameValue(encoder.encode(array))
    sameValue(encoder.encode([MessageType.Call, 1, 'save', [record]]))
    for (const n of edgeNumbers) sameValue(encoder.encode(new Map([[n, new Set([n])]])))
  })

  test('what other encoders may write inside the tags', () => {
    for (const bytes of [
      [0xc1, 0x00], // a Date from a small integer
      [0xc1, 0x3a, 0xff, 0xff, 0xff, 0xff], // and from a negative one
      [0xc1, 0xfa, 0x47, 0xc3, 0x50, 0x00], // and from a float32
      [0xc1, 0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], // NaN: an invalid Date
      [0x1b, 0, 0, 0, 0, 0, 0, 0, 5], // a small integer with a 64-bit head: a BigInt all the same
      [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // -2^64
      [0xc2, 0x40], // an empty bignum: 0n
      [0xc3, 0x40], // -1n
      [0xc2, 0x43, 0, 0, 1], // leading zeros
      [0xd9, 0x01, 0x03, 0xa1, 0xa1, 0x61, 0x6b, 0x01, 0xa0], // a map inside a Map, as a key: a plain object
      [0xd9, 0x01, 0x03, 0xa2, 0x01, 0x02, 0x01, 0x03], // a repeated key: the last value wins
      [0xd9, 0x01, 0x02, 0x82, 0x01, 0x01], // a repeated member
      [0xd9, 0x01, 0x02, 0x98, 0x02, 0x01, 0x02], // a non-shortest head
    ]) {
      sameValue(Uint8Array.from(bytes))
    }
  })

  test('a typed array views the frame where its bytes are aligned, is a copy where not', () => {
    const bytes = encoder.encode(new Float64Array([1.5, -2]))
    // Two bytes of tag, one of length: the elements start at offset 3 of the payload.
    const aligned = fastDecode(placed(bytes, 5, true)) as Float64Array
    const unaligned = fastDecode(placed(bytes, 4, false)) as Float64Array
    expect([...aligned]).toEqual([1.5, -2])
    expect([...unaligned]).toEqual([1.5, -2])
    expect(aligned.byteOffset).toBe(8)
    expect(unaligned.byteOffset).toBe(0)
    expect(unaligned.buffer.byteLength).toBe(16)
  })

  test('a trailing partial element: left out of an aligned view as cbor-x does, the general path otherwise', () => {
    const bytes = Uint8Array.from([0xd8, 69, 0x43, 1, 2, 3]) // tag 69 (Uint16Array, little-endian), 3 bytes
    const aligned = placed(bytes, 1, true)
    expect([...(fastDecode(aligned) as Uint16Array)]).toEqual([0x0201])
    sameValue(Uint8Array.from([0xd8, 72, 0x43, 1, 2, 3])) // bytes have no partial element
    expect(fastDecode(placed(bytes, 0, false))).toBe(GENERAL)
  })

  test('3,000 random values (seed 12), from sockets and ports at every alignment', () => {
    const next = random(12)
    for (let i = 0; i < 3000; i++) {
      const bytes = encoder.encode(randomValue(next))
      try {
        sameValue(bytes)
      } catch (error) {
        throw new Error(`value ${i} (${hex(bytes).slice(0, 60)}): ${(error as Error).message}`)
      }
    }
  })

  test('the whole round trip through the codec keeps every value', () => {
    const codec = new Codec()
    const next = random(13)
    for (let i = 0; i < 500; i++) {
      const value = randomValue(next)
      const payload = codec.encode([MessageType.Result, i, value])
      const [, , back] = codec.decode(Buffer.from(payload)) as unknown[]
      same(back, (codec.decode(Buffer.from(encoder.encode([MessageType.Result, i, value]))) as unknown[])[2])
    }
  })
})
