/**
 * The fast decoder's key cache: a key read once is read from the cache the next time, keys that
 * share a slot replace each other and are each read as themselves, non-ASCII and long keys are never
 * cached, a `__proto__` key is handed to the general path whether cached or not, and no sequence of
 * keys grows the cache past its slots; a message's own string fields (a method's name) use it too.
 * Every decoded value is compared with cbor-x's.
 */
import { Decoder, Encoder } from 'cbor-x'
import { describe, expect, test } from 'vitest'
import { CODEC_OPTIONS, Codec } from '../../src/protocol/codec.js'
import { GENERAL } from '../../src/protocol/fast-common.js'
import { cachedKeys, fastDecode } from '../../src/protocol/fast-decode.js'
import { mulberry32 as random } from '../helpers/random.js'

const encoder = new Encoder(CODEC_OPTIONS)
const decoder = new Decoder(CODEC_OPTIONS)

/** Decodes `value`'s encoding with the fast path, which must read it as cbor-x does. */
function roundTrip(value: unknown): unknown {
  const bytes = encoder.encode(value)
  const fast = fastDecode(bytes)
  expect(fast).not.toBe(GENERAL)
  expect(fast).toStrictEqual(decoder.decode(bytes))
  expect(Object.keys(fast as object)).toEqual(Object.keys(value as object))
  return fast
}

// Keys of one length whose bytes agree where the slot is chosen from (here 0, 2, 4, 6 and 8) share it.
const alike = ['kAmAnAoAz', 'kBmBnBoBz', 'kAmBnBoBz']

describe('the key cache', () => {
  test('a key read once is cached, and read from the cache the next time', () => {
    expect(cachedKeys()).not.toContain('firstSeen')
    roundTrip({ firstSeen: 1 })
    expect(cachedKeys()).toContain('firstSeen')
    expect(roundTrip({ firstSeen: 2, other: [{ firstSeen: 3 }] })).toEqual({ firstSeen: 2, other: [{ firstSeen: 3 }] })
  })

  test("a message's own string fields go through it, the strings of its data do not", () => {
    // A call: its method name is a field of the message; a string among its arguments is data.
    const call = [0, 7, 'methodSeen', ['argumentSeen', { key: 'valueSeen' }]]
    expect(cachedKeys()).not.toContain('methodSeen')
    expect(roundTrip(call)).toEqual(call)
    expect(cachedKeys()).toContain('methodSeen')
    expect(roundTrip(call)).toEqual(call)
    for (const data of ['argumentSeen', 'valueSeen']) expect(cachedKeys()).not.toContain(data)
    // Non-ASCII and long names are read as ever, uncached.
    const others = [0, 8, 'méthode', 'm'.repeat(40)]
    expect(roundTrip(others)).toEqual(others)
    for (const name of others.slice(2)) expect(cachedKeys()).not.toContain(name)
  })

  test('keys that share a slot replace each other, and each is read as itself', () => {
    for (let round = 0; round < 3; round++) {
      for (const key of alike) {
        roundTrip({ [key]: key })
        expect(cachedKeys()).toContain(key)
        for (const other of alike) if (other !== key) expect(cachedKeys()).not.toContain(other)
      }
      // In one map too, which a lookup that matched on the slot alone would merge into one key.
      const all = Object.fromEntries(alike.map((key, i) => [key, i]))
      expect(roundTrip(all)).toEqual(all)
    }
  })

  test('a non-ASCII key is read but never cached, even where its bytes look like a cached key', () => {
    // 17 bytes, the same as the ASCII key's at 0, 4, 8, 12 and 16.
    const ascii = 'a' + 'bcdefghijklmnopq'
    const other = 'a' + 'é' + ascii.slice(3)
    roundTrip({ [ascii]: 1 })
    expect(roundTrip({ [other]: 2 })).toEqual({ [other]: 2 })
    expect(cachedKeys()).toContain(ascii)
    expect(cachedKeys()).not.toContain(other)
    expect(roundTrip({ clé: 1, ключ: 2, '😀': 3, [ascii]: 4 })).toEqual({ clé: 1, ключ: 2, '😀': 3, [ascii]: 4 })
    for (const key of ['clé', 'ключ', '😀']) expect(cachedKeys()).not.toContain(key)
  })

  test('the empty key and keys over 24 bytes are read as before, uncached', () => {
    const long = 'k'.repeat(25)
    expect(roundTrip({ '': 1, [long]: 2, ['k'.repeat(24)]: 3 })).toEqual({ '': 1, [long]: 2, ['k'.repeat(24)]: 3 })
    expect(cachedKeys()).not.toContain(long)
    expect(cachedKeys()).not.toContain('')
    expect(cachedKeys()).toContain('k'.repeat(24))
  })

  test('a __proto__ key goes to the general path whether cached or not, as before the cache', () => {
    const bytes = encoder.encode(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'))
    // '_xpyozow_' shares the slot of '__proto__'.
    for (const first of ['_xpyozow_', '__proto__', '__proto__']) {
      roundTrip({ [first === '__proto__' ? 'b' : first]: 1 })
      expect(fastDecode(bytes)).toBe(GENERAL)
      const back = new Codec().decode(bytes) as Record<string, unknown>
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
      expect(Object.keys(back)).toEqual(['__proto_', 'a'])
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    }
    expect(cachedKeys()).toContain('__proto__')
    expect(roundTrip({ _xpyozow_: 2 })).toEqual({ _xpyozow_: 2 })
    expect(cachedKeys()).not.toContain('__proto__')
  })

  test('no sequence of keys grows it past its 1,024 slots', () => {
    const next = random(13)
    for (let batch = 0; batch < 100; batch++) {
      const value: Record<string, number> = {}
      for (let i = 0; i < 200; i++) value[`${Math.floor(next() * 2 ** 32).toString(36)}:${batch}:${i}`] = i
      roundTrip(value)
      expect(cachedKeys().length).toBeLessThanOrEqual(1024)
    }
    // 20,000 distinct keys: most slots were taken, none twice.
    expect(cachedKeys().length).toBeGreaterThan(900)
    expect(new Set(cachedKeys()).size).toBe(cachedKeys().length)
  })
})
