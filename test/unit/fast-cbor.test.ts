/**
 * The fast path must be cbor-x, narrower: the same bytes for every value it encodes, the same value
 * for every payload it decodes, and a hand-back (undefined / GENERAL) for everything else. Each test
 * compares against cbor-x with CODEC_OPTIONS, over chosen edge cases and over seeded random values.
 */
import { Decoder, Encoder } from 'cbor-x'
import { describe, expect, test } from 'vitest'
import { CODEC_OPTIONS, Codec } from '../../src/protocol/codec.js'
import { SerializationError } from '../../src/protocol/errors.js'
import { GENERAL } from '../../src/protocol/fast-common.js'
import { fastDecode } from '../../src/protocol/fast-decode.js'
import { fastEncode } from '../../src/protocol/fast-encode.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'
import { MessageType } from '../../src/protocol/messages.js'
import { checkProfile } from '../../src/protocol/profile.js'
import { mulberry32 as random } from '../helpers/random.js'

const encoder = new Encoder(CODEC_OPTIONS)
const decoder = new Decoder(CODEC_OPTIONS)

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

/** Deep equality that also tells Buffer from Uint8Array, -0 from 0, and a missing key from undefined. */
function same(a: unknown, b: unknown, path = '$'): void {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    if (!Object.is(a, b)) throw new Error(`${path}: ${String(a)} !== ${String(b)}`)
    return
  }
  if (a.constructor !== b.constructor) throw new Error(`${path}: ${a.constructor?.name} vs ${b.constructor?.name}`)
  if (a instanceof Uint8Array) {
    if (hex(a) !== hex(b as Uint8Array)) throw new Error(`${path}: bytes differ`)
    return
  }
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  if (keysA.join('\u0000') !== keysB.join('\u0000')) throw new Error(`${path}: keys ${keysA} vs ${keysB}`)
  for (const key of keysA) same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`)
}

/** Encodes with both; the fast path must handle the value and write cbor-x's bytes. */
function sameBytes(value: unknown): Uint8Array {
  const fast = fastEncode(value)
  expect(fast, 'fast path handles the value').toBeInstanceOf(Uint8Array)
  const reference = encoder.encode(value)
  expect(hex(fast as Uint8Array)).toBe(hex(reference))
  return fast as Uint8Array
}

/** Decodes with both, from a Buffer as over a socket and from a plain Uint8Array as over a port. */
function sameValue(bytes: Uint8Array): unknown {
  let result: unknown
  for (const source of [Buffer.from(bytes), new Uint8Array(bytes)]) {
    const fast = fastDecode(source)
    expect(fast, `fast path handles ${hex(bytes).slice(0, 40)}`).not.toBe(GENERAL)
    same(fast, decoder.decode(source))
    result = fast
  }
  return result
}

const utf16 = (units: number[]): string => String.fromCharCode(...units)

// A few numbers a line read better than one a line.
// prettier-ignore
const numbers = [
  0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 64, -1, -24, -25, -256, -257,
  -65536, -65537, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 32), -(2 ** 32) - 1, -0, 0.5, -1.25, 1e-300, 1e300, Math.PI,
  Number.MIN_VALUE, Number.MAX_VALUE, NaN, Infinity, -Infinity,
]

const strings = [
  '',
  'a',
  'echo',
  'x'.repeat(23),
  'x'.repeat(24),
  'x'.repeat(63),
  'x'.repeat(64),
  'x'.repeat(255),
  'x'.repeat(256),
  'x'.repeat(65535),
  'x'.repeat(65536),
  'héllo wörld',
  'é'.repeat(12),
  'é'.repeat(40),
  '€'.repeat(8),
  '€'.repeat(30),
  // More bytes than units, across each header size: the header grows past the one for the units.
  'x'.repeat(22) + 'é',
  'x'.repeat(254) + 'é',
  'é'.repeat(128),
  'é'.repeat(200),
  '€'.repeat(22000),
  'x'.repeat(65534) + '€',
  '😀',
  '😀'.repeat(20),
  '\ufeffstarts with a byte order mark',
  '\u0000nul\u0000',
  // Lone surrogates: short strings keep them as three bytes, long ones become U+FFFD, as in cbor-x.
  utf16([0xd800]),
  utf16([0x61, 0xdc00, 0x62]),
  utf16([0xd83d]) + 'x'.repeat(70),
  'x'.repeat(70) + utf16([0xdfff]),
]

describe('fast encode writes the bytes cbor-x writes', () => {
  test.each(numbers.map((n) => [Object.is(n, -0) ? '-0' : String(n), n]))('number %s', (_, n) => {
    sameBytes(n)
  })

  test.each(strings.map((s, i) => [i, s]))('string %i', (_, s) => {
    sameBytes(s)
    sameBytes({ [s]: s })
  })

  test('simple values, containers, byte strings', () => {
    for (const value of [
      true,
      false,
      null,
      undefined,
      [],
      {},
      [undefined, null, [[]], {}],
      new Array(3),
      new Array(24).fill(1),
      new Array(300).fill('a'),
      Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`key${i}`, i])),
      { a: { b: { c: [1, 'two', { d: null }] } } },
      new Uint8Array(0),
      new Uint8Array(23),
      new Uint8Array(24),
      new Uint8Array(70_000).fill(7),
      new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 4),
      Buffer.from('a Buffer is an untagged byte string'),
      [2, 7, 'echo', [new Uint8Array(32).fill(9)]],
      [4, 7, new Uint8Array(32).fill(9)],
    ]) {
      sameBytes(value)
    }
  })

  test('5,000 random values (seed 1)', () => {
    const next = random(1)
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(next, 0)
      try {
        sameBytes(value)
      } catch (error) {
        throw new Error(`value ${i}: ${(error as Error).message}`)
      }
    }
  })

  test('payloads handed out stay intact while later messages fill and replace the buffer', () => {
    const kept: [Uint8Array, string][] = []
    for (let i = 0; i < 3000; i++) {
      const value = [4, i, 'v'.repeat(i % 200), new Uint8Array(i % 700).fill(i & 0xff)]
      const payload = fastEncode(value) as Uint8Array
      kept.push([payload, hex(encoder.encode(value))])
    }
    for (const [payload, expected] of kept) expect(hex(payload)).toBe(expected)
  })

  test('a payload never spans the whole of its buffer', () => {
    // Messages of every size around the buffer's: one of them starts a fresh buffer and fills it.
    for (let size = 8100; size < 8300; size++) {
      const payload = fastEncode(new Uint8Array(size)) as Uint8Array
      expect(payload.byteLength).toBeLessThan(payload.buffer.byteLength)
    }
  })

  test('what the fast path does not handle is handed back', () => {
    class Point {
      x = 1
    }
    const cyclic: unknown[] = []
    cyclic.push(cyclic)
    let deep: unknown = 'bottom'
    for (let i = 0; i < 100; i++) deep = [deep]
    for (const value of [
      new ArrayBuffer(2),
      new DataView(new ArrayBuffer(2)),
      new Point(),
      Object.create(null),
      new Error('as a value'),
      /regexp/,
      [1, 2, new Point()],
      { a: { b: new Error('deep') } },
      Symbol('s'),
      () => 1,
      cyclic,
      deep,
    ]) {
      expect(fastEncode(value)).toBeUndefined()
    }
    // Nothing was left behind by the attempts: the next message is still exact.
    sameBytes([1, 'after'])
  })

  test('an object that only claims to be a byte string is handed back, as cbor-x refuses it', () => {
    expect(fastEncode({ constructor: Uint8Array, byteLength: 3, length: 3, 0: 1, 1: 2, 2: 3 })).toBeUndefined()
    expect(fastEncode({ constructor: Uint8Array })).toBeUndefined()
    expect(fastEncode({ constructor: Buffer, byteLength: 1, 0: 1 })).toBeUndefined()
    expect(fastEncode(Object.create(Uint8Array.prototype))).toBeUndefined()
    sameBytes([1, 'after'])
  })

  test('an object that only claims to be an array is handed back, not written as one', () => {
    expect(fastEncode({ constructor: Array, length: 2, 0: 'a', 1: 'b' })).toBeUndefined()
    expect(fastEncode(Object.create(Array.prototype))).toBeUndefined()
    // Without a length, its item count was NaN and the item limit held no more.
    expect(fastEncode([{ constructor: Array }, new Array(50).fill(0)], 0, 10)).toBeUndefined()
    sameBytes([1, 'after'])
  })

  test('a typed array that claims another class is handed back, not written under its tag', () => {
    const claims = (value: ArrayBufferView, constructor: unknown): ArrayBufferView =>
      Object.defineProperty(value, 'constructor', { value: constructor })
    expect(fastEncode(claims(new Float64Array([1.5, 300]), Uint8Array))).toBeUndefined()
    expect(fastEncode(claims(Uint8Array.of(1, 2, 3), Float64Array))).toBeUndefined()
    expect(fastEncode(claims(new DataView(new ArrayBuffer(4)), Uint8Array))).toBeUndefined()
    expect(fastEncode(claims(Uint8Array.of(1), undefined))).toBeUndefined()
    expect(fastEncode(claims(Uint8Array.of(1), 5))).toBeUndefined()
    sameBytes([Uint8Array.of(1, 2, 3), Buffer.from([4]), new Float64Array([1.5]), 'after'])
  })

  test('a buffer grown for one large message is not kept for the next', () => {
    const large = sameBytes('x'.repeat(200_000))
    expect(large.buffer.byteLength).toBeGreaterThan(200_000)
    const next = fastEncode([1, 2, 3]) as Uint8Array
    expect(next.buffer.byteLength).toBeLessThanOrEqual(64 * 1024)
    // Also when the large message ends up with cbor-x.
    expect(fastEncode(['y'.repeat(200_000), /cbor-x/])).toBeUndefined()
    expect((fastEncode([4, 5]) as Uint8Array).buffer.byteLength).toBeLessThanOrEqual(64 * 1024)
  })

  test('large byte strings become chunks of their own, anywhere in the value', () => {
    const big = new Uint8Array(100_000).fill(3)
    const other = Buffer.alloc(70_000, 4)
    const value = [2, 1, 'up', [{ deep: [[big]] }, 'mid', other, new Uint8Array(10)]]
    const payload = fastEncode(value, 65_536)
    expect(Array.isArray(payload)).toBe(true)
    expect(payload).toContain(big)
    expect(payload).toContain(other)
    expect(hex(joinPayload(payload as Payload))).toBe(hex(encoder.encode(value)))
  })

  test('a getter that sends a message of its own is encoded through cbor-x, the outer one still exactly', () => {
    const inner: unknown[] = []
    const value = {
      get nested() {
        inner.push(fastEncode(['inner', 1]))
        return 'n'
      },
      after: 2,
    }
    sameBytes(value)
    // The first getter call happened inside the fast path, the second inside cbor-x.
    expect(inner[0]).toBeUndefined()
    expect(inner[1]).toBeInstanceOf(Uint8Array)
  })

  test('a throwing getter fails that message with a SerializationError, and the next one is exact', () => {
    const codec = new Codec()
    const value = {
      get boom(): never {
        throw new Error('getter failed')
      },
    }
    expect(() => codec.encode([MessageType.Result, 1, value])).toThrow(SerializationError)
    sameBytes([MessageType.Result, 2, 'fine'])
  })
})

describe('fast decode reads the values cbor-x reads', () => {
  test('numbers, strings and containers', () => {
    for (const n of numbers) sameValue(encoder.encode(n))
    for (const s of strings.filter((s) => !/[\ud800-\udfff]/.test(s) || /\ud83d\ude00/.test(s))) {
      sameValue(encoder.encode(s))
      sameValue(encoder.encode({ [s]: [s] }))
    }
    sameValue(encoder.encode([2, 7, 'echo', [new Uint8Array(32).fill(9)]]))
    sameValue(encoder.encode({ a: Buffer.from('xyz'), b: new Uint8Array([1]), c: [true, false, null, undefined] }))
  })

  test('ASCII strings of every length around the hand decoder’s, one non-ASCII character anywhere', () => {
    for (let length = 0; length <= 40; length++) {
      // Every position a different character, all 128 ASCII codes over the lengths.
      const ascii = Array.from({ length }, (_, i) => String.fromCharCode((length * 7 + i * 13) % 128)).join('')
      expect(sameValue(encoder.encode(ascii))).toBe(ascii)
      sameValue(encoder.encode({ [ascii]: ascii }))
      for (let i = 0; i < length; i++) {
        const other = ascii.slice(0, i) + 'é' + ascii.slice(i + 1)
        expect(sameValue(encoder.encode([other]))).toEqual([other])
      }
    }
  })

  test('float32 from another encoder, and non-shortest heads', () => {
    for (const bytes of [
      [0xfa, 0x3f, 0xc0, 0x00, 0x00],
      [0xfa, 0x7f, 0x80, 0x00, 0x00],
      [0x18, 0x05],
      [0x19, 0x00, 0x05],
      [0x1a, 0x00, 0x00, 0x00, 0x05],
      [0x79, 0x00, 0x01, 0x61],
      [0xb9, 0x00, 0x01, 0x61, 0x61, 0x01],
    ]) {
      sameValue(Uint8Array.from(bytes))
    }
  })

  test('a tagged byte string is a Uint8Array viewing the frame; an untagged one a view of the source type', () => {
    const frame = Buffer.from(encoder.encode([new Uint8Array([1, 2]), Buffer.from([3])]))
    const [tagged, untagged] = fastDecode(frame) as Uint8Array[]
    expect(tagged.constructor).toBe(Uint8Array)
    expect(tagged.buffer).toBe(frame.buffer)
    expect(Buffer.isBuffer(untagged)).toBe(true)
    expect(untagged.buffer).toBe(frame.buffer)
  })

  test('5,000 random values (seed 2)', () => {
    const next = random(2)
    for (let i = 0; i < 5000; i++) {
      const bytes = encoder.encode(randomValue(next, 0))
      try {
        sameValue(bytes)
      } catch (error) {
        throw new Error(`value ${i} (${hex(bytes).slice(0, 60)}): ${(error as Error).message}`)
      }
    }
  })

  test('what the fast path does not read is handed back', () => {
    for (const bytes of [
      [],
      [0xf9, 0x3c, 0x00], // float16
      [0x5b, 0, 0, 0, 0, 0, 0, 0, 1, 0], // 64-bit length
      [0xc1, 0x61, 0x61], // tag 1 around a text string
      [0xd8, 0x41, 0x42, 1, 2], // tag 65, Uint16Array in the other byte order
      [0xd8, 0x40, 0x61, 0x61], // tag 64 around a text string
      [0x9f, 0xff], // indefinite array
      [0x5f, 0xff],
      [0xa1, 0x01, 0x02], // integer key
      [0xa1, 0x69, ...Buffer.from('__proto__'), 0x01],
      [0x62, 0xc3, 0x28], // invalid UTF-8
      [0x63, 0xed, 0xa0, 0x80], // an encoded surrogate
      [0x82, 0x01], // truncated
      [0x01, 0x02], // bytes after the item
      [0x85, 0x01], // more elements than bytes
      [0xf8, 0x20], // simple value 32
      [0xf0], // simple value 16
      [0xff], // lone break
      [0x1c], // reserved
    ]) {
      expect(fastDecode(Uint8Array.from(bytes)), hex(Uint8Array.from(bytes))).toBe(GENERAL)
    }
    let deep = Uint8Array.from([0x01])
    for (let i = 0; i < 100; i++) deep = Uint8Array.from([0x81, ...deep])
    expect(fastDecode(deep)).toBe(GENERAL)
  })

  test('random bytes: whatever the fast path reads is within the profile and what cbor-x reads', () => {
    const next = random(3)
    let read = 0
    for (let i = 0; i < 20_000; i++) {
      const bytes = new Uint8Array(1 + Math.floor(next() * 12))
      for (let j = 0; j < bytes.length; j++) {
        // Mostly heads of small items, so that many payloads are well formed.
        bytes[j] =
          next() < 0.7 ? [0x00, 0x18, 0x20, 0x40, 0x60, 0x61, 0x80, 0x82, 0xa1, 0xf4, 0xf6, 0xfb][Math.floor(next() * 12)] : Math.floor(next() * 256)
      }
      const fast = fastDecode(bytes)
      if (fast === GENERAL) continue
      read++
      expect(() => checkProfile(bytes), hex(bytes)).not.toThrow()
      same(fast, decoder.decode(bytes))
    }
    // The generator is tuned so that a fair share is readable: the comparison is not vacuous.
    expect(read).toBeGreaterThan(1000)
  })
})

/** A random value made only of what the fast path handles. */
function randomValue(next: () => number, depth: number): unknown {
  const kind = Math.floor(next() * (depth > 4 ? 7 : 10))
  switch (kind) {
    case 0:
      return numbers[Math.floor(next() * numbers.length)]
    case 1:
      return Math.floor((next() - 0.5) * 2 ** Math.floor(next() * 40))
    case 2:
      return randomString(next)
    case 3:
      return [true, false, null, undefined][Math.floor(next() * 4)]
    case 4:
      return (next() - 0.5) * 10 ** Math.floor(next() * 20 - 10)
    case 5: {
      const bytes = new Uint8Array(Math.floor(next() * 300)).map(() => Math.floor(next() * 256))
      return next() < 0.3 ? Buffer.from(bytes) : bytes
    }
    case 6:
      // Whole code points: a cut surrogate pair is not valid UTF-8, which the decoder leaves to cbor-x.
      return Array.from(randomString(next)).slice(0, 5).join('')
    case 7:
    case 8:
      return Array.from({ length: Math.floor(next() * 6) }, () => randomValue(next, depth + 1))
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(next() * 6) }, () => [randomString(next).replace('__proto__', '_'), randomValue(next, depth + 1)]),
      )
  }
}

function randomString(next: () => number): string {
  const length = next() < 0.8 ? Math.floor(next() * 30) : Math.floor(next() * 400)
  const alphabets = [
    [0x61, 26],
    [0x20, 95],
    [0xe0, 32],
    [0x4e00, 200],
    [0x1f600, 50],
  ] as const
  const [base, span] = alphabets[Math.floor(next() * alphabets.length)]
  let text = ''
  for (let i = 0; i < length; i++) text += String.fromCodePoint(base + Math.floor(next() * span))
  return text
}
