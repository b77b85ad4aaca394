/**
 * The fast path on structured values keeps every check of the general path (profile.ts, then cbor-x):
 * the data item budget counted the same way both ways, the nesting limits, prototype safety, and on
 * hostile input (truncated, lying lengths, wrong tag contents) the very ProtocolError the general
 * path raises, because the fast decoder hands such input back untouched.
 */
import { describe, expect, test } from 'vitest'
import { Codec } from '../../src/protocol/codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { GENERAL, TOO_MANY_ITEMS } from '../../src/protocol/fast-common.js'
import { fastDecode } from '../../src/protocol/fast-decode.js'
import { fastEncode } from '../../src/protocol/fast-encode.js'
import { MessageType } from '../../src/protocol/messages.js'
import { checkProfile, MAX_NESTING, profileViolation } from '../../src/protocol/profile.js'
import { decoder, encoder, generalOutcome, hex, outcomeOf, randomValue, same, sameBytes, sameValue } from '../helpers/cbor-corpus.js'
import { mulberry32 as random } from '../helpers/random.js'

/** The items of a payload, as the profile check counts them: the smallest budget it passes. */
function itemsOf(payload: Uint8Array): number {
  let low = 1
  let high = payload.byteLength
  while (low < high) {
    const mid = (low + high) >> 1
    if (profileViolation(payload, mid) === undefined) high = mid
    else low = mid + 1
  }
  return low
}

/** The codec's verdict on `bytes` is the general path's: the same value, or the same error. */
function sameAsGeneral(bytes: Uint8Array, maxItems?: number): void {
  const expected = generalOutcome(bytes, maxItems)
  const actual = outcomeOf(() => new Codec({ maxFrameItems: maxItems }).decode(bytes))
  if (expected.error !== undefined) {
    expect(actual.error, `${hex(bytes)} is refused`).toBeInstanceOf(ProtocolError)
    expect(actual.error?.message).toBe(expected.error.message)
  } else {
    expect(actual.error, `${hex(bytes)}: ${actual.error?.message}`).toBeUndefined()
    same(actual.value, expected.value, bytes)
  }
}

/** `depth` containers, each inside the next, taking turns: array, Set, Map (as a value), object. */
function nested(depth: number): unknown {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) {
    value = [[value], new Set([value]), new Map([['k', value]]), { k: value }][i % 4]
  }
  return value
}

describe('the data item budget', () => {
  test('counted by both halves of the fast path as the profile counts it, on 400 random values', () => {
    const next = random(21)
    for (let i = 0; i < 400; i++) {
      const value = randomValue(next)
      const bytes = encoder.encode(value)
      const items = itemsOf(bytes)
      const label = `value ${i} (${hex(bytes).slice(0, 40)}), ${items} items`
      expect(fastEncode(value, 0, items), label).toBeInstanceOf(Uint8Array)
      expect(fastDecode(bytes, items), label).not.toBe(GENERAL)
      if (items === 1) continue
      expect(fastEncode(value, 0, items - 1), label).toBe(TOO_MANY_ITEMS)
      expect(fastDecode(bytes, items - 1), label).toBe(GENERAL)
      sameAsGeneral(bytes, items - 1)
    }
  })

  test('a payload one item over is the general path’s ProtocolError, of every structured kind', () => {
    for (const value of [
      Array.from({ length: 20 }, (_, i) => new Date(i)),
      new Set(Array.from({ length: 30 }, (_, i) => i)),
      new Map(Array.from({ length: 15 }, (_, i) => [i, [i]])),
      Array.from({ length: 20 }, () => new Float32Array(2)),
      Array.from({ length: 20 }, (_, i) => 2n ** 64n + BigInt(i)),
    ]) {
      const bytes = encoder.encode(value)
      const items = itemsOf(bytes)
      expect(() => new Codec({ maxFrameItems: items }).decode(bytes)).not.toThrow()
      const error = outcomeOf(() => new Codec({ maxFrameItems: items - 1 }).decode(bytes)).error
      expect(error).toBeInstanceOf(ProtocolError)
      expect(error?.message).toBe(`payload refused: more than ${items - 1} data items (maxFrameItems)`)
    }
  })
})

describe('nesting', () => {
  test('64 levels of arrays, Sets, Maps and objects take the fast path both ways; 65 are left to cbor-x', () => {
    const bytes = sameBytes(nested(64))
    sameValue(bytes)
    const deeper = nested(65)
    expect(fastEncode(deeper)).toBeUndefined()
    const deeperBytes = encoder.encode(deeper)
    expect(fastDecode(deeperBytes)).toBe(GENERAL)
    const codec = new Codec()
    const [, , back] = codec.decode(codec.encode([MessageType.Result, 1, deeper])) as unknown[]
    same(back, decoder.decode(deeperBytes))
  })

  test('past the profile’s limit, tags counting as levels, the general path’s ProtocolError', () => {
    const sets = new Uint8Array((MAX_NESTING / 2 + 1) * 4 + 1)
    for (let i = 0; i < MAX_NESTING / 2 + 1; i++) sets.set([0xd9, 0x01, 0x02, 0x81], i * 4)
    expect(fastDecode(sets)).toBe(GENERAL)
    expect(() => checkProfile(sets)).toThrow(/nested too deeply/)
    sameAsGeneral(sets)
  })
})

describe('prototype safety', () => {
  test('a __proto__ key is written as any key, and read back as an own key that changes no prototype', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object
    const bytes = sameBytes(value)
    // Plain objects with such a key are left to cbor-x, which renames it.
    expect(fastDecode(bytes)).toBe(GENERAL)
    const back = new Codec().decode(bytes) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.keys(back)).toEqual(['__proto_', 'a'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    // A Map's key is only a key.
    const map = sameValue(sameBytes(new Map([['__proto__', { polluted: true }]]))) as Map<unknown, unknown>
    expect(map.get('__proto__')).toEqual({ polluted: true })
    expect(Object.getPrototypeOf(map)).toBe(Map.prototype)
  })
})

describe('hostile input gets the general path’s ProtocolError', () => {
  // prettier-ignore
  const hostile: [string, number[]][] = [
    ['tag 1, truncated', [0xc1]],
    ['tag 1 around a truncated integer', [0xc1, 0x1a, 0, 0]],
    ['tag 1 around a 64-bit integer (a BigInt)', [0xc1, 0x1b, 0, 0, 0, 0, 0, 0, 0, 1]],
    ['tag 1 around an array', [0xc1, 0x81, 0x00]],
    ['tag 1 around a string', [0xc1, 0x63, 0x61, 0x62, 0x63]],
    ['tag 1 around a break', [0xc1, 0xff]],
    ['a 64-bit integer, truncated', [0x1b, 0, 0, 0, 0, 1]],
    ['a bignum over 1 KiB', [0xc2, 0x59, 0x04, 0x01, ...new Array(1025).fill(1)]],
    ['a bignum around a text string', [0xc2, 0x61, 0x61]],
    ['a bignum whose length lies', [0xc3, 0x58, 0x20, 1, 2, 3]],
    ['a bignum around an indefinite byte string', [0xc2, 0x5f, 0x41, 0x01, 0xff]],
    ['a Set around a map', [0xd9, 0x01, 0x02, 0xa1, 0x61, 0x61, 0x01]],
    ['a Set around a text string', [0xd9, 0x01, 0x02, 0x62, 0x61, 0x62]],
    ['a Set around an integer', [0xd9, 0x01, 0x02, 0x05]],
    ['a Set around null', [0xd9, 0x01, 0x02, 0xf6]],
    ['a Set whose array lies about its length', [0xd9, 0x01, 0x02, 0x9a, 0x00, 0x01, 0x00, 0x00, 0x01]],
    ['a Set around an indefinite array', [0xd9, 0x01, 0x02, 0x9f, 0x01, 0xff]],
    ['a Set, truncated', [0xd9, 0x01, 0x02]],
    ['a Map around an array of maps', [0xd9, 0x01, 0x03, 0x81, 0xa1, 0x01, 0x02]],
    ['a Map whose map lies about its size', [0xd9, 0x01, 0x03, 0xb8, 0x10, 0x01, 0x02]],
    ['a Map around an indefinite map', [0xd9, 0x01, 0x03, 0xbf, 0x01, 0x02, 0xff]],
    ['a Map, truncated after a key', [0xd9, 0x01, 0x03, 0xa1, 0x01]],
    ['a Map with an unknown tag inside', [0xd9, 0x01, 0x03, 0xa1, 0x01, 0xd8, 0x1c, 0x01]],
    ['a typed array around a text string', [0xd8, 0x45, 0x62, 0x01, 0x02]],
    ['a typed array around an integer', [0xd8, 0x56, 0x01]],
    ['a typed array whose length lies', [0xd8, 0x56, 0x48, 1, 2, 3]],
    ['a typed array of half an element', [0xd8, 0x56, 0x41, 0x01]],
    ['tag 76 (not in the profile)', [0xd8, 0x4c, 0x42, 0x01, 0x02]],
    ['tag 80 (not a typed array cbor-x reads)', [0xd8, 0x50, 0x42, 0x01, 0x02]],
    ['tag 28 (value sharing)', [0xd8, 0x1c, 0x81, 0x01]],
    ['a tag with a 64-bit head', [0xdb, 0, 0, 0, 0, 0, 0, 1, 2, 0x40]],
  ]

  test.each(hostile)('%s', (_, bytes) => {
    const payload = Uint8Array.from(bytes)
    expect(fastDecode(payload)).toBe(GENERAL)
    sameAsGeneral(payload)
  })

  test('mutated encodings of random values: what the fast path reads is what the general path reads', () => {
    const next = random(31)
    let fast = 0
    let refused = 0
    for (let i = 0; i < 4000; i++) {
      const bytes = encoder.encode(randomValue(next)).slice()
      const mutated = mutate(bytes, next)
      const read = fastDecode(mutated)
      if (read !== GENERAL) {
        fast++
        expect(() => checkProfile(mutated), hex(mutated)).not.toThrow()
        same(read, decoder.decode(mutated), mutated)
      } else {
        if (generalOutcome(mutated).error) refused++
        sameAsGeneral(mutated)
      }
    }
    // Enough of both kinds that neither comparison is vacuous.
    expect(fast).toBeGreaterThan(400)
    expect(refused).toBeGreaterThan(400)
  })
})

/** One of: a byte changed, the payload cut short, a byte inserted, a length or tag byte set high. */
function mutate(bytes: Uint8Array, next: () => number): Uint8Array {
  const at = Math.floor(next() * bytes.length)
  switch (Math.floor(next() * 4)) {
    case 0:
      bytes[at] = Math.floor(next() * 256)
      return bytes
    case 1:
      return bytes.subarray(0, at)
    case 2: {
      const longer = new Uint8Array(bytes.length + 1)
      longer.set(bytes.subarray(0, at))
      longer[at] = [0x00, 0x1b, 0x40, 0x81, 0xa1, 0xc1, 0xc2, 0xd8, 0xd9, 0xff][Math.floor(next() * 10)]
      longer.set(bytes.subarray(at), at + 1)
      return longer
    }
    default:
      bytes[at] ^= 1 << Math.floor(next() * 8)
      return bytes
  }
}
