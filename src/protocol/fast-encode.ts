/**
 * The encoding half of the codec's fast path (see fast-common.ts): numbers, strings, booleans, null,
 * undefined, BigInts, plain arrays and objects, Date, Map, Set, Uint8Array/Buffer and the other typed
 * arrays cbor-x tags, written by hand into a buffer shared by every channel of the process, byte for
 * byte as cbor-x writes them with CODEC_OPTIONS (the unit tests compare the two). Anything else (a
 * class instance or a subclass of those, an Error, an ArrayBuffer, a bignum over the profile's size,
 * deep nesting) makes {@link fastEncode} return undefined, and the caller uses cbor-x for the whole
 * message. (Given up partway, a getter runs twice.) It also owns the cutting of large byte strings
 * into chunks of their own, and the count of data items a message may hold.
 */
import { bufferOf, byteLengthOf, byteOffsetOf, setBytes } from './bytes.js'
import type { Payload } from './framing.js'
import { littleEndian, MAX_DEPTH, TOO_MANY_ITEMS, TYPED_ARRAY_TAGS, type TypedArrayClass } from './fast-common.js'
import { DEFAULT_MAX_FRAME_ITEMS, MAX_BIGNUM_BYTES } from './profile.js'
import { isListed, pendingTransfers, transferableChunk } from './transfer.js'

/** Size of a fresh encode buffer; messages are written back to back into it. */
const BUFFER_SIZE = 8192
/** A buffer grown beyond this for one large message is let go after it, not kept for the next ones. */
const MAX_KEPT_BUFFER = 64 * 1024
/** Strings up to this many UTF-16 units are encoded by hand, as cbor-x does; longer ones by TextEncoder. */
const HAND_ENCODED_STRING = 0x40

// Buffer is Node's; protocol/ runs in browsers too, where it is absent and never matches.
const NodeBuffer: unknown = (globalThis as Record<string, unknown>).Buffer

const utf8Encoder = new TextEncoder()

const float64 = new Float64Array(1)
const float64Bytes = new Uint8Array(float64.buffer)
const TWO_64 = 1n << 64n

// Encoder state, shared by every channel of the process like cbor-x's own: each message is written
// after the previous one and the buffer is replaced, never overwritten, when it is full, so a payload
// handed out stays valid for as long as anyone holds it.
let target = new Uint8Array(BUFFER_SIZE)
/**
 * target's ArrayBuffer, kept beside it: a message's last (or only) chunk is made as a view of it with
 * the constructor, which costs less than `subarray` (a builtin that looks up the species constructor
 * first).
 */
let targetBuffer = target.buffer
let position = 0
let start = 0
/** Set while a message is being encoded: a getter that sends a message of its own goes to cbor-x. */
let encoding = false
/** Byte strings from this size on are cut out as chunks of their own (0: none are), and the chunks cut so far. */
let largeBinary = 0
let chunks: Uint8Array[] | undefined
let chunkStart = 0
/** Data items the message being written may still hold; below 0, it holds too many. */
let encodeItemsLeft = 0

/**
 * Encodes `value` as cbor-x would, or returns undefined when it holds something the fast path leaves
 * to cbor-x. With `largeBinary` > 0, byte strings of that many bytes or more, and those whose buffer
 * transfer() listed, are not copied: the result is then a list of chunks, each such value one of them
 * behind a header in the chunk before.
 * Returns TOO_MANY_ITEMS, as soon as it is known, when the message would hold more than
 * `maxItems` data items. Exceptions of the value's own getters propagate.
 */
export function fastEncode(value: unknown, largeBinaryFrom = 0, maxItems = DEFAULT_MAX_FRAME_ITEMS): Payload | undefined | typeof TOO_MANY_ITEMS {
  return encode(value, largeBinaryFrom, maxItems, -2)
}

/**
 * {@link fastEncode} of a message array the codec's caller built itself, so a plain Array whose
 * `constructor` need not be read. Its element `argsAt` (-1: none), call arguments, is written as a
 * plain Array too when it is an Array of any class, without reading its `constructor`: a read less
 * each, every one a call of V8's generic inline cache in the code Node 20 compiles off the main
 * thread (see bytes.ts).
 */
export function fastEncodeMessage(
  message: readonly unknown[],
  largeBinaryFrom: number,
  maxItems: number,
  argsAt = -1,
): Payload | undefined | typeof TOO_MANY_ITEMS {
  return encode(message, largeBinaryFrom, maxItems, argsAt)
}

/** `argsAt`: as for fastEncodeMessage; -2 when `value` is not a message. */
function encode(value: unknown, largeBinaryFrom: number, maxItems: number, argsAt: number): Payload | undefined | typeof TOO_MANY_ITEMS {
  if (encoding) return undefined
  encoding = true
  if (target.length - position < 256) replaceTarget(new Uint8Array(BUFFER_SIZE), 0)
  start = chunkStart = position
  largeBinary = largeBinaryFrom
  chunks = undefined
  encodeItemsLeft = maxItems - 1
  let payload: Payload | undefined | typeof TOO_MANY_ITEMS
  try {
    if (argsAt === -2 ? write(value, 0) : writeMessage(value as unknown[], argsAt)) payload = cut()
    else if (encodeItemsLeft < 0) payload = TOO_MANY_ITEMS
  } finally {
    encoding = false
    // A payload is an object: anything else (undefined, TOO_MANY_ITEMS) wrote nothing to keep.
    if (typeof payload !== 'object') position = start
    chunks = undefined
    // A buffer grown for one large message is not kept for the next ones: the payload handed out
    // keeps it alive for as long as it is needed, and no longer.
    if (target.length > MAX_KEPT_BUFFER) replaceTarget(new Uint8Array(BUFFER_SIZE), 0)
  }
  return payload
}

/** The message just written: its bytes, or its chunks when large binaries were cut out. */
function cut(): Payload {
  // A payload never spans its whole buffer: a transport that transfers such a buffer to another
  // thread would detach the one shared here.
  const tail =
    position - chunkStart === target.length ? target.slice(chunkStart, position) : new Uint8Array(targetBuffer, chunkStart, position - chunkStart)
  if (chunks === undefined) return tail
  chunks.push(tail)
  return chunks
}

/** Makes room for `bytes` more bytes, moving the message being written to a new buffer if needed. */
function reserve(bytes: number): void {
  if (position + bytes <= target.length) return
  const pending = position - chunkStart
  const next = new Uint8Array(Math.max(BUFFER_SIZE, (pending + bytes) * 2))
  next.set(target.subarray(chunkStart, position))
  replaceTarget(next, pending)
  // Chunks already cut keep their views of the old buffer.
  start = chunkStart = 0
}

/** Writes from now on go to `buffer`, from `at`. */
function replaceTarget(buffer: Uint8Array<ArrayBuffer>, at: number): void {
  target = buffer
  targetBuffer = buffer.buffer
  position = at
}

function write(value: unknown, depth: number): boolean {
  // A chain of typeof tests rather than a switch on typeof: V8 compiles each test to a check of the
  // value's type, where the switch first called a builtin to make the type's name.
  if (typeof value === 'number') {
    writeNumber(value)
    return true
  }
  if (typeof value === 'string') {
    writeString(value)
    return true
  }
  if (typeof value === 'object') {
    if (value === null) {
      reserve(1)
      target[position++] = 0xf6
      return true
    }
    if (depth >= MAX_DEPTH) return false
    // Arrays, then typed arrays, then the rest, each with a `constructor` load of its own: a load
    // that sees more than four kinds of object V8 leaves to its inline cache (a call), where one that
    // sees a few it compiles inline, when it compiles on the main thread (off it, every such load is
    // a call: see bytes.ts). An object that merely claims a constructor (an own `constructor`
    // property, or a view that is not an instance of the class it names) is none of these: the fast
    // path leaves it to the general one.
    if (Array.isArray(value)) return value.constructor === Array && writeArray(value, depth + 1)
    if (ArrayBuffer.isView(value)) {
      const constructor: unknown = value.constructor
      if (constructor === Uint8Array) return value instanceof Uint8Array && writeBytes(value, 64)
      if (constructor === NodeBuffer && NodeBuffer !== undefined) return value instanceof (NodeBuffer as typeof Uint8Array) && writeBytes(value, -1)
      // Only a class the map holds reaches instanceof (a claimed `constructor` of 5 would throw there).
      // The bytes of the array's span of its buffer, as they are in memory (the tag tells the order).
      const tag = TYPED_ARRAY_TAGS.get(constructor as TypedArrayClass)
      return (
        tag !== undefined &&
        value instanceof (constructor as TypedArrayClass) &&
        writeBytes(new Uint8Array(bufferOf(value), byteOffsetOf(value), byteLengthOf(value)), tag)
      )
    }
    const constructor = value.constructor
    if (constructor === Object) return writeObject(value as Record<string, unknown>, depth + 1)
    if (constructor === Date && value instanceof Date) return writeDate(value)
    if (constructor === Map && value instanceof Map) return writeMap(value, depth + 1)
    if (constructor === Set && value instanceof Set) return writeSet(value, depth + 1)
    return false
  }
  if (typeof value === 'boolean') {
    reserve(1)
    target[position++] = value ? 0xf5 : 0xf4
    return true
  }
  if (value === undefined) {
    reserve(1)
    target[position++] = 0xf7
    return true
  }
  if (typeof value === 'bigint') return writeBigInt(value)
  // A function or a symbol.
  return false
}

/** A message's own array (see fastEncodeMessage), as write() writes an array at the top. */
function writeMessage(message: readonly unknown[], argsAt: number): boolean {
  const length = message.length
  if ((encodeItemsLeft -= length) < 0) return false
  writeHead(0x80, length)
  for (let i = 0; i < length; i++) {
    const field = message[i]
    if (!(i === argsAt && Array.isArray(field) ? writeArray(field, 2) : write(field, 1))) return false
  }
  return true
}

function writeArray(array: readonly unknown[], depth: number): boolean {
  const length = array.length
  if ((encodeItemsLeft -= length) < 0) return false
  writeHead(0x80, length)
  for (let i = 0; i < length; i++) if (!write(array[i], depth)) return false
  return true
}

function writeMap(map: Map<unknown, unknown>, depth: number): boolean {
  const size = map.size
  // Tag 259's content, then a key and a value per entry.
  if ((encodeItemsLeft -= 1 + 2 * size) < 0) return false
  reserve(3)
  target[position++] = 0xd9
  target[position++] = 0x01
  target[position++] = 0x03
  writeHead(0xa0, size)
  // Entries in the order cbor-x takes them. A getter inside that adds or deletes entries would have
  // cbor-x write a head that does not match them: that goes to cbor-x.
  let left = size
  for (const [key, value] of map) {
    if (left-- === 0 || !write(key, depth) || !write(value, depth)) return false
  }
  return left === 0
}

function writeSet(set: Set<unknown>, depth: number): boolean {
  // Tag 258's content: the members as an array, taken before any is written, as cbor-x takes them.
  if (--encodeItemsLeft < 0) return false
  reserve(3)
  target[position++] = 0xd9
  target[position++] = 0x01
  target[position++] = 0x02
  return writeArray(Array.from(set), depth)
}

function writeDate(date: Date): boolean {
  if (--encodeItemsLeft < 0) return false
  // Tag 1 around the seconds since the epoch: a 4-byte integer (never shorter) when they are whole
  // and fit one, else a float64 (an invalid Date's NaN too). The same calls as cbor-x, in its order.
  const seconds = date.getTime() / 1000
  reserve(10)
  target[position++] = 0xc1
  if (date.getMilliseconds() === 0 && seconds >= 0 && seconds < 0x100000000) {
    target[position++] = 0x1a
    write32(seconds)
  } else {
    writeFloat64(seconds)
  }
  return true
}

function writeBigInt(value: bigint): boolean {
  const negative = value < 0n
  const magnitude = negative ? -1n - value : value
  // As cbor-x: a 64-bit head whenever the value fits one below 2^64 in size (8 bytes even for a small
  // value, and -2^64 excluded), else a bignum: tag 2 or 3 around the magnitude's bytes, big-endian.
  if (negative ? value > -TWO_64 : value < TWO_64) {
    reserve(9)
    target[position++] = negative ? 0x3b : 0x1b
    write32(Number(magnitude >> 32n))
    write32(Number(magnitude & 0xffffffffn))
    return true
  }
  const hex = magnitude.toString(16)
  const length = (hex.length + 1) >> 1
  // Larger bignums are beyond what a peer accepts: cbor-x writes them, and the codec refuses them.
  if (length > MAX_BIGNUM_BYTES || --encodeItemsLeft < 0) return false
  reserve(1)
  target[position++] = negative ? 0xc3 : 0xc2
  writeHead(0x40, length)
  reserve(length)
  let i = hex.length & 1
  if (i === 1) target[position++] = parseInt(hex[0], 16)
  for (; i < hex.length; i += 2) target[position++] = parseInt(hex.slice(i, i + 2), 16)
  return true
}

function writeObject(object: Record<string, unknown>, depth: number): boolean {
  // Keys and values fetched as cbor-x fetches them (its variableMapSize path), getters included.
  const keys = Object.keys(object)
  const values = Object.values(object)
  const length = keys.length
  if ((encodeItemsLeft -= 2 * length) < 0) return false
  writeHead(0xa0, length)
  for (let i = 0; i < length; i++) {
    writeString(keys[i])
    if (!write(values[i], depth)) return false
  }
  return true
}

/** A head of major type `major` (its top three bits) with argument `n` < 2^32, in the shortest form. */
function writeHead(major: number, n: number): void {
  reserve(5)
  if (n < 0x18) {
    target[position++] = major | n
  } else if (n < 0x100) {
    target[position++] = major | 0x18
    target[position++] = n
  } else if (n < 0x10000) {
    target[position++] = major | 0x19
    target[position++] = n >>> 8
    target[position++] = n & 0xff
  } else {
    target[position++] = major | 0x1a
    write32(n)
  }
}

function writeNumber(value: number): void {
  // The same choices as cbor-x with useFloat32 off: integers of 32 bits or less as integers, anything
  // else (fractions, larger integers, NaN, infinities) as float64. -0 becomes 0, as there.
  if (value >>> 0 === value) {
    writeHead(0x00, value)
  } else if (value >> 0 === value || (value < 0 && value >= -0x100000000 && Math.floor(value) === value)) {
    writeHead(0x20, -1 - value)
  } else {
    writeFloat64(value)
  }
}

function writeFloat64(value: number): void {
  reserve(9)
  target[position++] = 0xfb
  float64[0] = value
  if (littleEndian) for (let i = 7; i >= 0; i--) target[position++] = float64Bytes[i]
  else for (let i = 0; i < 8; i++) target[position++] = float64Bytes[i]
}

/** Four bytes, big-endian, of `n` < 2^32 (room reserved by the caller). */
function write32(n: number): void {
  target[position++] = n >>> 24
  target[position++] = (n >>> 16) & 0xff
  target[position++] = (n >>> 8) & 0xff
  target[position++] = n & 0xff
}

function writeString(value: string): void {
  const units = value.length
  const maxBytes = units * 3
  // Bytes go after a header sized for the shortest encoding (a byte a unit, as ASCII is), and move
  // up in the rare case they need a longer one: a move, even of a few bytes, costs more than the
  // rest of a short string's encoding.
  const headerSize = units < 0x18 ? 1 : units < 0x100 ? 2 : units < 0x10000 ? 3 : 5
  // Room for the longest header too, so that writing the header below never moves the buffer.
  reserve(5 + maxBytes)
  const at = position + headerSize
  let end = at
  if (units < HAND_ENCODED_STRING) {
    // cbor-x's hand encoder for short strings, lone surrogates included (written as three bytes).
    for (let i = 0; i < units; i++) {
      let c1 = value.charCodeAt(i)
      let c2: number
      if (c1 < 0x80) {
        target[end++] = c1
      } else if (c1 < 0x800) {
        target[end++] = (c1 >> 6) | 0xc0
        target[end++] = (c1 & 0x3f) | 0x80
      } else if ((c1 & 0xfc00) === 0xd800 && ((c2 = value.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
        c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff)
        i++
        target[end++] = (c1 >> 18) | 0xf0
        target[end++] = ((c1 >> 12) & 0x3f) | 0x80
        target[end++] = ((c1 >> 6) & 0x3f) | 0x80
        target[end++] = (c1 & 0x3f) | 0x80
      } else {
        target[end++] = (c1 >> 12) | 0xe0
        target[end++] = ((c1 >> 6) & 0x3f) | 0x80
        target[end++] = (c1 & 0x3f) | 0x80
      }
    }
  } else {
    end += utf8Encoder.encodeInto(value, target.subarray(at, at + maxBytes)).written
  }
  const length = end - at
  if (length < 0x18) {
    // The usual case, a name or a key: its one-byte head, in the room reserved above.
    target[position] = 0x60 | length
    position += 1 + length
    return
  }
  const actualHeader = length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
  if (actualHeader > headerSize) target.copyWithin(position + actualHeader, at, end)
  writeHead(0x60, length)
  position += length
}

/** A byte string, behind `tag` (a typed array's, 64-87) unless that is -1. */
function writeBytes(bytes: Uint8Array, tag: number): boolean {
  const length = bytes.length
  // A length beyond 32 bits needs a head this encoder does not write; no frame could carry it anyway.
  if (length > 0xffffffff) return false
  if (tag >= 0) {
    // The tag's content is an item of its own.
    if (--encodeItemsLeft < 0) return false
    reserve(2)
    target[position++] = 0xd8
    target[position++] = tag
  }
  writeHead(0x40, length)
  if (largeBinary > 0) {
    // A value whose buffer transfer() listed is a chunk of its own whatever its size: a port hands it over.
    const listed = pendingTransfers > 0 && isListed(bytes)
    if (listed || length >= largeBinary) {
      ;(chunks ??= []).push(target.subarray(chunkStart, position), listed ? transferableChunk(bytes) : bytes)
      chunkStart = position
      return true
    }
  }
  reserve(length)
  setBytes(target, bytes, position)
  position += length
  return true
}
