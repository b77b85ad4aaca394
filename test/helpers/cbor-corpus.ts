/**
 * What the tests of the codec's fast path compare it with, and on what: cbor-x with CODEC_OPTIONS
 * (bytes written, values read, and the general path's verdict on a payload), and seeded random values
 * mixing every type the fast path handles with their edge cases.
 */
import { Decoder, Encoder } from 'cbor-x'
import { expect } from 'vitest'
import { CODEC_OPTIONS } from '../../src/protocol/codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { GENERAL } from '../../src/protocol/fast-common.js'
import { fastDecode } from '../../src/protocol/fast-decode.js'
import { fastEncode } from '../../src/protocol/fast-encode.js'
import { checkProfile, DEFAULT_MAX_FRAME_ITEMS, MAX_BIGNUM_BYTES } from '../../src/protocol/profile.js'

export const encoder = new Encoder(CODEC_OPTIONS)
export const decoder = new Decoder(CODEC_OPTIONS)

export const hex = (bytes: ArrayBufferView): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

/**
 * Deep equality that also tells apart what toEqual does not: Buffer from Uint8Array, -0 from 0, a
 * missing key from undefined, a typed array viewing `source` from a copy (and at which offset), key and
 * member order in maps and sets.
 */
export function same(a: unknown, b: unknown, source?: Uint8Array, path = '$'): void {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    if (!Object.is(a, b)) throw new Error(`${path}: ${String(a)} !== ${String(b)}`)
    return
  }
  if (a.constructor !== b.constructor) throw new Error(`${path}: ${a.constructor?.name} vs ${b.constructor?.name}`)
  if (a instanceof Date) {
    if (!Object.is(a.getTime(), (b as Date).getTime())) throw new Error(`${path}: ${a.getTime()} vs ${(b as Date).getTime()}`)
    return
  }
  if (ArrayBuffer.isView(a)) {
    const other = b as ArrayBufferView
    if (hex(a) !== hex(other)) throw new Error(`${path}: bytes differ`)
    if (source !== undefined) {
      const viewsA = a.buffer === source.buffer
      if (viewsA !== (other.buffer === source.buffer)) throw new Error(`${path}: a view of the payload on one side only`)
      if (viewsA && a.byteOffset !== other.byteOffset) throw new Error(`${path}: views at ${a.byteOffset} and ${other.byteOffset}`)
    }
    return
  }
  if (a instanceof Map || a instanceof Set) {
    const entriesA = [...(a as Map<unknown, unknown>).entries()]
    const entriesB = [...(b as Map<unknown, unknown>).entries()]
    if (entriesA.length !== entriesB.length) throw new Error(`${path}: sizes ${entriesA.length} and ${entriesB.length}`)
    entriesA.forEach(([key, value], i) => {
      same(key, entriesB[i][0], source, `${path}<key ${i}>`)
      same(value, entriesB[i][1], source, `${path}<${i}>`)
    })
    return
  }
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  if (keysA.join('\u0000') !== keysB.join('\u0000')) throw new Error(`${path}: keys ${keysA} vs ${keysB}`)
  for (const key of keysA) same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], source, `${path}.${key}`)
}

/** Encodes with both; the fast path must handle the value and write cbor-x's bytes. */
export function sameBytes(value: unknown): Uint8Array {
  const fast = fastEncode(value)
  expect(fast, 'fast path handles the value').toBeInstanceOf(Uint8Array)
  expect(hex(fast as Uint8Array)).toBe(hex(encoder.encode(value)))
  return fast as Uint8Array
}

/**
 * `bytes` at `offset` in a larger ArrayBuffer: as a Buffer (a socket's frame) when `asBuffer`, else as
 * a Uint8Array (a port's). Where a typed array sits in the frame decides whether it is read as a view.
 */
export function placed(bytes: Uint8Array, offset: number, asBuffer: boolean): Uint8Array {
  const backing = new ArrayBuffer(offset + bytes.byteLength + 3)
  const view = asBuffer ? Buffer.from(backing, offset, bytes.byteLength) : new Uint8Array(backing, offset, bytes.byteLength)
  view.set(bytes)
  return view
}

/** Decodes with both, from a Buffer and from a Uint8Array at every alignment; the fast path must read it. */
export function sameValue(bytes: Uint8Array): unknown {
  let result: unknown
  for (let offset = 0; offset < 8; offset++) {
    const source = placed(bytes, offset, offset % 2 === 1)
    const fast = fastDecode(source)
    expect(fast, `fast path reads ${hex(bytes).slice(0, 40)}`).not.toBe(GENERAL)
    same(fast, decoder.decode(source), source)
    result = fast
  }
  return result
}

/** What the codec's general path (the profile check, then cbor-x) makes of `bytes`. */
export function generalOutcome(bytes: Uint8Array, maxItems = DEFAULT_MAX_FRAME_ITEMS): { value?: unknown; error?: Error } {
  try {
    checkProfile(bytes, maxItems)
  } catch (error) {
    return { error: error as Error }
  }
  try {
    return { value: decoder.decode(bytes) }
  } catch (error) {
    return { error: new ProtocolError(`malformed CBOR payload: ${(error as Error)?.message ?? String(error)}`) }
  }
}

/** What `decode` makes of a payload: its value or its error. */
export function outcomeOf(decode: () => unknown): { value?: unknown; error?: Error } {
  try {
    return { value: decode() }
  } catch (error) {
    return { error: error as Error }
  }
}

// A few values a line read better than one a line.
// prettier-ignore
export const edgeNumbers = [
  0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, -24, -25, -(2 ** 31) - 1, -(2 ** 32),
  -(2 ** 32) - 1, -0, 0.5, 1e300, Number.MIN_VALUE, NaN, Infinity, -Infinity,
]

/** Times in ms around each of cbor-x's choices for a Date: whole seconds in 32 bits, or a float64. */
// prettier-ignore
export const edgeTimes = [
  0, 1, -1, 999, 1000, -1000, 1.5, 1_700_000_000_000, 1_700_000_000_123, (2 ** 32 - 1) * 1000, (2 ** 32 - 1) * 1000 + 1,
  2 ** 32 * 1000, 8.64e15, -8.64e15, 8.64e15 + 1, NaN, -62_135_596_800_000,
]

const TWO_64 = 2n ** 64n
const LARGEST_BIGNUM = 2n ** BigInt(8 * MAX_BIGNUM_BYTES) - 1n
/** BigInts at each of cbor-x's boundaries: 64-bit heads, bignums, and the profile's largest bignum. */
// prettier-ignore
export const edgeBigInts = [
  0n, 1n, -1n, 23n, 24n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, TWO_64 - 1n, TWO_64, TWO_64 + 1n, -TWO_64 + 1n, -TWO_64,
  -TWO_64 - 1n, 2n ** 100n, -(2n ** 100n), LARGEST_BIGNUM, -LARGEST_BIGNUM - 1n,
]

/** The typed arrays cbor-x tags, by class. */
export const typedArrayClasses = [
  Uint8Array,
  Uint8ClampedArray,
  Uint16Array,
  Uint32Array,
  BigUint64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  BigInt64Array,
  Float32Array,
  Float64Array,
] as const

/** A typed array of `type` with random bytes (NaN payloads and all), often a view inside a larger buffer. */
export function randomTypedArray(next: () => number, type: (typeof typedArrayClasses)[number]): ArrayBufferView {
  const size = type.BYTES_PER_ELEMENT
  const length = Math.floor(next() * 12)
  const before = next() < 0.5 ? Math.floor(next() * 4) : 0
  const backing = new Uint8Array((before + length + 2) * size).map(() => Math.floor(next() * 256))
  return new type(backing.buffer, before * size, length)
}

/** A random value made only of what the fast path handles, every kind mixed in. */
export function randomValue(next: () => number, depth = 0): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]
  switch (Math.floor(next() * (depth > 3 ? 8 : 13))) {
    case 0:
      return next() < 0.5 ? pick(edgeNumbers) : (next() - 0.5) * 2 ** Math.floor(next() * 60)
    case 1:
      return randomText(next)
    case 2:
      return pick([true, false, null, undefined])
    case 3:
      return new Date(next() < 0.5 ? pick(edgeTimes) : Math.floor((next() - 0.3) * 2 ** 42) * (next() < 0.5 ? 1000 : 1))
    case 4:
      return next() < 0.5
        ? pick(edgeBigInts.slice(0, -2))
        : (next() < 0.5 ? -1n : 1n) * BigInt(Math.floor(next() * 2 ** 40)) ** BigInt(1 + Math.floor(next() * 5))
    case 5:
      return randomTypedArray(next, pick(typedArrayClasses))
    case 6: {
      const bytes = new Uint8Array(Math.floor(next() * 40)).map(() => Math.floor(next() * 256))
      return next() < 0.3 ? Buffer.from(bytes) : bytes
    }
    case 7:
      return Math.floor(next() * 100)
    case 8: {
      const array = Array.from({ length: Math.floor(next() * 5) }, () => randomValue(next, depth + 1))
      // Sometimes holey: cbor-x writes a hole as undefined.
      if (next() < 0.2) array.length += 2
      return array
    }
    case 9:
    case 10:
      return Object.fromEntries(
        Array.from({ length: Math.floor(next() * 6) }, () => [randomText(next).replace('__proto__', '_'), randomValue(next, depth + 1)]),
      )
    case 11:
      return new Map(Array.from({ length: Math.floor(next() * 4) }, () => [randomValue(next, depth + 1), randomValue(next, depth + 1)]))
    default:
      return new Set(Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1)))
  }
}

function randomText(next: () => number): string {
  const length = Math.floor(next() * (next() < 0.9 ? 12 : 90))
  const [base, span] = [
    [0x61, 26],
    [0x20, 95],
    [0xe0, 32],
    [0x1f600, 50],
  ][Math.floor(next() * 4)]
  let text = ''
  for (let i = 0; i < length; i++) text += String.fromCodePoint(base + Math.floor(next() * span))
  return text
}
