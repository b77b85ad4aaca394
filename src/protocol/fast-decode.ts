/**
 * The decoding half of the codec's fast path (see fast-common.ts): reads a payload made only of
 * numbers (64-bit integers as BigInts), strings, booleans, null, undefined, arrays, maps with text
 * keys, byte strings, and the tags this side writes around the content it writes (1 around a number:
 * a Date; 2 and 3 around a byte string: a bignum; 258 around an array: a Set; 259 around a map: a Map;
 * a typed array's tag in this machine's byte order around a byte string), into the values cbor-x
 * reads with CODEC_OPTIONS (the unit tests compare the two). Anything else, and anything malformed or
 * outside the profile, makes {@link fastDecode} return GENERAL untouched, for the profile check and
 * cbor-x to read or reject: what it accepts is a strict subset of the profile (profile.ts), data item
 * budget included. Short ASCII map keys, and the short strings among a message's own fields (a
 * method's name), come from a small cache of the keys last read (bounded: see keyCache).
 */
import { bufferOf, byteOffsetOf } from './bytes.js'
import { GENERAL, isGeneral, littleEndian, MAX_DEPTH, TYPED_ARRAY_TAGS, type TypedArrayClass } from './fast-common.js'
import { DEFAULT_MAX_FRAME_ITEMS, MAX_BIGNUM_BYTES } from './profile.js'

/**
 * Maps with more keys than DICTIONARY_FROM, and at most FAST_OBJECT_KEYS, are copied into an object
 * of fast properties (see read). V8 keeps the first 16 properties of `{}` fast whatever the stores.
 */
const DICTIONARY_FROM = 16
const FAST_OBJECT_KEYS = 64

/** ASCII strings up to this many bytes are decoded by hand; longer ones by TextDecoder. */
const HAND_DECODED_STRING = 24

// fatal: invalid UTF-8 goes to cbor-x, which decides what it becomes. ignoreBOM: a leading U+FEFF is
// part of the string and is kept, as cbor-x keeps it with its native string decoder (Node) and its
// short-string decoder. (Its fallback for longer strings without the native decoder, in browsers,
// drops it; the fast path does not copy that loss.)
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const float64 = new Float64Array(1)
const float64Bytes = new Uint8Array(float64.buffer)
const float32 = new Float32Array(1)
const float32Bytes = new Uint8Array(float32.buffer)
/** What the decoder reads when no payload is being read: it holds on to none. */
const NOTHING = new Uint8Array(0)
/** Indexed by tag - 64: the typed array a tag in this machine's byte order decodes to. */
const TYPED_ARRAY_OF_TAG: (TypedArrayClass | undefined)[] = []
for (const [type, tag] of TYPED_ARRAY_TAGS) TYPED_ARRAY_OF_TAG[tag - 64] = type
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

// Decoder state for the payload being read.
let src: Uint8Array = NOTHING
let at = 0
let end = 0
/** Data items the payload being read may still hold; below 0, it holds too many. */
let decodeItemsLeft = 0
/** Byte-string contents cut out of the payload being read (see fastDecode), where, and the next one. */
let apart: readonly Uint8Array[] | undefined
let cuts: readonly number[] = []
let nextApart = 0

/**
 * Decodes a payload as cbor-x would, when it is made only of what the fast path handles (and keeps to
 * the CBOR profile: definite lengths, counts the payload can hold, valid UTF-8, at most `maxItems` data
 * items counted as profile.ts counts them); otherwise returns GENERAL. It never throws:
 * anything malformed is GENERAL, for the general path to reject. Item counts are checked at each
 * array, map and tag head, before anything is built for what follows.
 *
 * With `pieces`, the contents of byte strings (untagged or tag 64) were cut out of `payload`,
 * `pieces[i]` at offset `cutAt[i]` (ascending): each is the value of the byte string whose head ends
 * there, uncopied. Reading stops at each cut, where only that byte string may go on: no other item
 * may span one.
 */
export function fastDecode(payload: Uint8Array, maxItems = DEFAULT_MAX_FRAME_ITEMS, pieces?: readonly Uint8Array[], cutAt?: number[]): unknown {
  src = payload
  at = nextApart = 0
  end = pieces === undefined ? payload.length : cutAt![0]
  decodeItemsLeft = maxItems - 1
  apart = pieces
  cuts = cutAt ?? cuts
  const value = read(0)
  const whole = at === end && (pieces === undefined || nextApart === pieces.length)
  src = NOTHING
  apart = undefined
  return whole ? value : GENERAL
}

/** The content of a byte string of `n` bytes whose head ends at the next cut, or GENERAL. */
function contentApart(n: number): unknown {
  const content = apart?.[nextApart]
  if (content === undefined || at !== end || content.length !== n) return GENERAL
  end = ++nextApart < apart!.length ? cuts[nextApart] : src.length
  return content
}

function read(depth: number): unknown {
  if (at >= end) return GENERAL
  const initial = src[at++]
  const major = initial >> 5
  if (major === 7) return readSimple(initial & 0x1f)
  const n = readArgument(initial & 0x1f)
  if (n < 0) return major < 2 && (initial & 0x1f) === 0x1b ? readInteger64(major === 1) : GENERAL
  switch (major) {
    case 0:
      return n
    case 1:
      return -1 - n
    case 2:
      if (n > end - at) return contentApart(n)
      return src.subarray(at, (at += n))
    case 3:
      // The strings of a message's own fields (a method's name) recur: the key cache hands the same
      // string back, its hash already computed for the handler lookup.
      return depth === 1 ? readKey(n) : readString(n)
    case 4: {
      if (n > end - at || depth >= MAX_DEPTH || (decodeItemsLeft -= n) < 0) return GENERAL
      const array = new Array(n)
      for (let i = 0; i < n; i++) {
        const member = read(depth + 1)
        if (isGeneral(member)) return GENERAL
        array[i] = member
      }
      return array
    }
    case 5: {
      if (n > (end - at) / 2 || depth >= MAX_DEPTH || (decodeItemsLeft -= 2 * n) < 0) return GENERAL
      const object: Record<string, unknown> = {}
      for (let i = 0; i < n; i++) {
        // Text-string keys only: cbor-x turns other keys into strings, which is left to it.
        const head = at < end ? src[at] : 0
        if (head < 0x60 || head > 0x7a) return GENERAL
        at++
        const length = readArgument(head & 0x1f)
        if (length < 0) return GENERAL
        const key = readKey(length)
        if (isGeneral(key) || key === '__proto__') return GENERAL
        const member = read(depth + 1)
        if (isGeneral(member)) return GENERAL
        object[key as string] = member
      }
      // V8 may turn an object that gains many properties by computed keys into a dictionary (a record
      // of 20 fields was one), 2.6 times as slow to encode again and slower to read. A spread copy
      // has fast properties. Up to FAST_OBJECT_KEYS only: beyond, the copy's cost per key grows.
      return n > DICTIONARY_FROM && n <= FAST_OBJECT_KEYS ? { ...object } : object
    }
    case 6:
      return readTagged(n, depth)
    default:
      return GENERAL
  }
}

/** An integer with a 64-bit head, which cbor-x reads as a BigInt whatever its size. */
function readInteger64(negative: boolean): unknown {
  if (at + 8 > end) return GENERAL
  const high = src[at] * 0x1000000 + ((src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3])
  const low = src[at + 4] * 0x1000000 + ((src[at + 5] << 16) | (src[at + 6] << 8) | src[at + 7])
  at += 8
  const n = (BigInt(high) << 32n) | BigInt(low)
  return negative ? -1n - n : n
}

/**
 * The item after a tag head. Only the content this side's encoder writes inside each tag is read
 * here; cbor-x makes something of other content too (a Date of a string, a Set of any iterable), or
 * fails on it, and the profile refuses some: all of that is GENERAL.
 */
function readTagged(tag: number, depth: number): unknown {
  // The tag's content is an item of its own.
  if (--decodeItemsLeft < 0 || at >= end) return GENERAL
  const head = src[at]
  switch (tag) {
    case 1: {
      // A number of seconds since the epoch: an integer of up to 32 bits, or a float32 or float64.
      if ((head >> 5 > 1 || (head & 0x1f) > 0x1a) && head !== 0xfa && head !== 0xfb) return GENERAL
      const seconds = read(depth + 1)
      return typeof seconds === 'number' ? new Date(Math.round(seconds * 1000)) : GENERAL
    }
    case 2:
    case 3:
      return readBignum(head, tag === 3)
    case 258: {
      // The Set and its array are one level, as for the encoder.
      if (head >> 5 !== 4) return GENERAL
      const members = read(depth)
      return isGeneral(members) ? GENERAL : new Set(members as unknown[])
    }
    case 259:
      return head >> 5 === 5 && depth < MAX_DEPTH ? readMap(depth + 1) : GENERAL
    default: {
      const type = tag >= 64 && tag <= 87 ? TYPED_ARRAY_OF_TAG[tag - 64] : undefined
      return type !== undefined && head >> 5 === 2 ? readTypedArray(type) : GENERAL
    }
  }
}

/** Tag 2 or 3's byte string, at most the profile's size: the magnitude, big-endian. */
function readBignum(head: number, negative: boolean): unknown {
  if (head >> 5 !== 2) return GENERAL
  at++
  const length = readArgument(head & 0x1f)
  if (length < 0 || length > end - at || length > MAX_BIGNUM_BYTES) return GENERAL
  let hex = '0x0'
  for (let i = at; i < at + length; i++) hex += HEX[src[i]]
  at += length
  const magnitude = BigInt(hex)
  return negative ? -1n - magnitude : magnitude
}

/** Tag 259's map: keys of any type, and maps inside it (keys and values) are plain objects again. */
function readMap(depth: number): unknown {
  const n = readArgument(src[at++] & 0x1f)
  if (n < 0 || n > (end - at) / 2 || (decodeItemsLeft -= 2 * n) < 0) return GENERAL
  const map = new Map<unknown, unknown>()
  for (let i = 0; i < n; i++) {
    const key = read(depth)
    if (isGeneral(key)) return GENERAL
    const value = read(depth)
    if (isGeneral(value)) return GENERAL
    map.set(key, value)
  }
  return map
}

/**
 * A typed array of the byte string's bytes. As cbor-x: a view of the payload when the bytes are
 * aligned for the type (a trailing partial element is left out), else a copy, which must then hold
 * whole elements.
 */
function readTypedArray(type: TypedArrayClass): unknown {
  const length = readArgument(src[at++] & 0x1f)
  // cbor-x computes the element count with a 32-bit shift: a length over 2^31 fails there.
  if (length < 0 || length > 0x7fffffff) return GENERAL
  if (length > end - at) {
    // The content travelled apart (see fastDecode): the array is made of it as of the payload.
    const content = contentApart(length)
    if (isGeneral(content) || type === Uint8Array) return content
    return typedArrayOf(type, content as Uint8Array, byteOffsetOf(content as Uint8Array), length)
  }
  const array = typedArrayOf(type, src, byteOffsetOf(src) + at, length)
  at += length
  return array
}

/** A typed array of the `length` bytes at `offset` of `bytes`' buffer: a view when aligned, else a copy. */
function typedArrayOf(type: TypedArrayClass, bytes: Uint8Array, offset: number, length: number): unknown {
  // Bytes first, the usual binary value: any offset is aligned for them, and no size need be read.
  if (type === Uint8Array) return new Uint8Array(bufferOf(bytes), offset, length)
  const size = type.BYTES_PER_ELEMENT
  if (offset % size === 0) return new type(bufferOf(bytes) as ArrayBuffer, offset, Math.floor(length / size))
  if (length % size !== 0) return GENERAL
  const copy = new Uint8Array(length)
  copy.set(new Uint8Array(bufferOf(bytes), offset, length))
  return new type(copy.buffer)
}

/** The argument of a head whose low five bits are `low` (at is past the initial byte), or -1. */
function readArgument(low: number): number {
  if (low < 0x18) return low
  if (low === 0x18) {
    if (at + 1 > end) return -1
    return src[at++]
  }
  if (low === 0x19) {
    if (at + 2 > end) return -1
    const n = (src[at] << 8) | src[at + 1]
    at += 2
    return n
  }
  if (low === 0x1a) {
    if (at + 4 > end) return -1
    const n = src[at] * 0x1000000 + ((src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3])
    at += 4
    return n
  }
  // 64-bit arguments (BigInt in cbor-x), indefinite lengths, reserved values.
  return -1
}

function readSimple(n: number): unknown {
  switch (n) {
    case 0x14:
      return false
    case 0x15:
      return true
    case 0x16:
      return null
    case 0x17:
      return undefined
    case 0x1a:
      if (at + 4 > end) return GENERAL
      if (littleEndian) for (let i = 3; i >= 0; i--) float32Bytes[i] = src[at++]
      else for (let i = 0; i < 4; i++) float32Bytes[i] = src[at++]
      return float32[0]
    case 0x1b:
      if (at + 8 > end) return GENERAL
      if (littleEndian) for (let i = 7; i >= 0; i--) float64Bytes[i] = src[at++]
      else for (let i = 0; i < 8; i++) float64Bytes[i] = src[at++]
      return float64[0]
    default:
      // float16 and other simple values.
      return GENERAL
  }
}

/** Keys of 1 to this many bytes go through the key cache. */
const CACHED_KEY_BYTES = 24
/** The key cache has 2^KEY_CACHE_BITS slots. */
const KEY_CACHE_BITS = 10
/**
 * The last ASCII key read for each slot: a key found here is handed back without making a string,
 * and property stores with a string V8 has seen as a key are cheaper. A slot is chosen from a key's
 * length and five of its bytes (first, last, and at a quarter, half and three quarters of it), and
 * holds one key, replaced by the next key that falls in it and is not there. Whatever a peer sends,
 * the cache holds at most 1,024 keys of at most 24 characters (about 50 KiB, per process), and a key
 * it holds is handed back only when every byte matches.
 */
const keyCache: string[] = Array.from({ length: 1 << KEY_CACHE_BITS }, () => '')

/**
 * A map key, or a string field of the message itself, of `length` bytes (at is past its head), as
 * readString reads it, through the key cache.
 */
function readKey(length: number): unknown {
  if (length === 0 || length > CACHED_KEY_BYTES || length > end - at) return readString(length)
  const s = src
  const x = s[at] ^ (s[at + (length >> 2)] << 5) ^ (s[at + (length >> 1)] << 10) ^ (s[at + ((3 * length) >> 2)] << 15) ^ (s[at + length - 1] << 20)
  const slot = Math.imul(x ^ (length << 25), 0x9e3779b1) >>> (32 - KEY_CACHE_BITS)
  const cached = keyCache[slot]
  if (cached.length === length) {
    // A cached key is ASCII: bytes equal to its character codes are that key, in ASCII.
    let i = 0
    while (i < length && src[at + i] === cached.charCodeAt(i)) i++
    if (i === length) {
      at += length
      return cached
    }
  }
  const key = readString(length)
  // As many characters as bytes: ASCII (UTF-8 writes anything else in more bytes than UTF-16 units).
  if (typeof key === 'string' && key.length === length) keyCache[slot] = key
  return key
}

/** The keys the key cache holds, for tests. */
export function cachedKeys(): string[] {
  return keyCache.filter((key) => key !== '')
}

function readString(length: number): unknown {
  if (length > end - at) return GENERAL
  if (length <= HAND_DECODED_STRING && isAscii(at, at + length)) {
    const text = length <= 12 ? asciiOf(at, length) : asciiOf(at, 12) + asciiOf(at + 12, length - 12)
    at += length
    return text
  }
  try {
    const text = utf8Decoder.decode(src.subarray(at, at + length))
    at += length
    return text
  } catch {
    return GENERAL
  }
}

function isAscii(from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (src[i] >= 0x80) return false
  return true
}

/**
 * The string of the `length` (at most 12) ASCII bytes at `i`: one String.fromCharCode call with that
 * many arguments, about twice as fast as joining the characters eight at a time (which also leaves a
 * string of pieces from 13 characters on, for someone else to flatten).
 */
function asciiOf(i: number, length: number): string {
  const s = src
  const f = String.fromCharCode
  switch (length) {
    case 1:
      return f(s[i])
    case 2:
      return f(s[i], s[i + 1])
    case 3:
      return f(s[i], s[i + 1], s[i + 2])
    case 4:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3])
    case 5:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4])
    case 6:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5])
    case 7:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6])
    case 8:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7])
    case 9:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7], s[i + 8])
    case 10:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7], s[i + 8], s[i + 9])
    case 11:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7], s[i + 8], s[i + 9], s[i + 10])
    case 12:
      return f(s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7], s[i + 8], s[i + 9], s[i + 10], s[i + 11])
    default:
      return ''
  }
}
