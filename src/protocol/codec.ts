/**
 * The CBOR codec. One encoder and one decoder per channel, with every cbor-x option that changes the
 * bytes on the wire set explicitly here, so that the encoding does not depend on cbor-x defaults or on
 * anything another module registered globally.
 */
import { Decoder, Encoder, type Options } from 'cbor-x'
import { ProtocolError, SerializationError } from './errors.js'
import { isGeneral, TYPED_ARRAY_TAGS, type TypedArrayClass } from './fast-common.js'
import { fastDecode } from './fast-decode.js'
import { fastEncodeMessage } from './fast-encode.js'
import { isWhole, joinPayload, type Payload } from './framing.js'
import { MessageType, type Message } from './messages.js'
import { checkProfile, DEFAULT_MAX_FRAME_ITEMS, MAX_BIGNUM_BYTES, profileViolation } from './profile.js'
import { REFERENCE_TAG, restoreReferences, substituteReferences, type ReferenceHooks } from './references.js'
import { rootName, Unsendable, unsendableError, type CallTarget } from './sendable.js'
import { isListed, pendingTransfers, transferableChunk, useMarks } from './transfer.js'

/**
 * The wire encoding: plain RFC 8949 CBOR with registered tags only (1 epoch date, 2/3 bignum,
 * 64-87 typed arrays per RFC 8746, 258 set, 259 map with any keys), so a peer in another language can
 * speak it. Records and structure sharing (cbor-x extensions) are off.
 */
export const CODEC_OPTIONS: Readonly<Options> = Object.freeze({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  // Map headers sized to the map: with a fixed 2-byte count, objects of 65,536 keys or more would be
  // written as corrupt frames.
  variableMapSize: true,
  useTag259ForMaps: true,
  tagUint8Array: true,
  largeBigIntToFloat: false,
  useFloat32: 0,
  bundleStrings: false,
  pack: false,
  // Decoded byte strings are views of the received frame: no copy for large binary payloads. Copying
  // the small ones instead costs a quarter of the call rate; the frame decoder bounds what a view can
  // pin (a sizeable frame is copied out of a much larger chunk).
  copyBuffers: false,
})

/** Byte strings from this size on are kept out of the encoder and sent as their own chunk. */
export const LARGE_BINARY = 64 * 1024

/** Arrays and objects with more members than this are not searched for large binaries. */
const LARGE_BINARY_SCAN_WIDTH = 32

/** Bytes of a marker's encoding: tag 64 (2 bytes), a 17-byte string header (1) and its content (17). */
const MARKER_ENCODED_SIZE = 20
const MARKER_HEAD = [0xd8, 0x40, 0x51] as const

/** What a codec needs from the reference tables of its channel's current connection. */
export interface CodecReferences extends ReferenceHooks {
  /** References may be received: the connection is open and both ends announced the feature. */
  readonly accepting: boolean
  /**
   * The general path encoded a message whose data held references (`payload`), or failed to
   * (undefined: what was exported for it is undone). Called once per such message.
   */
  settle(payload: Payload | undefined): void
  /** `payload`, which {@link settle} was told of, will not be sent: what was exported for it is undone. */
  discard(payload: Payload): void
}

/** Limits of one codec. */
export interface CodecOptions {
  /**
   * Data items a received payload may hold (counted as profile.ts counts them); more is a
   * ProtocolError. Default {@link DEFAULT_MAX_FRAME_ITEMS}.
   */
  maxFrameItems?: number
  /**
   * Data items a sent payload may hold: what the peer accepts. More is a SerializationError for that
   * message. Default {@link DEFAULT_MAX_FRAME_ITEMS}; see {@link Codec.peerMaxFrameItems}.
   */
  peerMaxFrameItems?: number
}

/** Encodes and decodes whole messages for one channel. */
export class Codec {
  readonly #encoder: Encoder
  readonly #decoder: Decoder
  /** Random bytes that, with an index byte, stand in for large binaries while the rest is encoded. */
  readonly #markerBase = crypto.getRandomValues(new Uint8Array(16))
  /** Data items a received payload may hold. */
  readonly maxFrameItems: number
  /**
   * Data items a sent payload may hold. The peer's limit: a channel that learns it (from the peer's
   * hello) sets it there, before sending anything but its own handshake.
   */
  peerMaxFrameItems: number
  /**
   * The reference tables of the channel's connection (PROTOCOL.md chapter 17), or undefined: then a
   * function cannot be encoded and no reference tag is accepted. Consulted on the general path only:
   * the fast path takes no function and no class instance, so a message that holds a reference never
   * goes through it.
   */
  references: CodecReferences | undefined

  constructor(options: CodecOptions = {}) {
    this.#encoder = new Encoder(CODEC_OPTIONS)
    this.#decoder = new Decoder(CODEC_OPTIONS)
    this.maxFrameItems = options.maxFrameItems ?? DEFAULT_MAX_FRAME_ITEMS
    this.peerMaxFrameItems = options.peerMaxFrameItems ?? DEFAULT_MAX_FRAME_ITEMS
    this.references = undefined
  }

  /**
   * Encodes a message that carries application data in `message[index]` (call arguments, a result,
   * an item). Uint8Array and Buffer values of {@link LARGE_BINARY} bytes or more, and binary values
   * whose buffer transfer() listed, found there or up to two levels inside it (at any depth on the
   * fast path), are not copied: the rest is encoded around small markers, and each such value becomes
   * its own chunk behind a byte-string header written here.
   * @param target the call a result, an item or a progress value belongs to, named in its errors.
   * @throws SerializationError as {@link encode}, and for a value that would not travel as it is (a
   *   Promise, a URL, a generator, a class instance whose state is in private fields or getters),
   *   saying where it was: `args[1].when: URL is not sendable; send url.href`.
   */
  encodeData(message: Message, index: number, target?: CallTarget): Payload {
    const payload = this.#encodeData(message, index, target)
    // A listed buffer is handed over by the first message that carries it, and by no later one.
    if (pendingTransfers > 0 && !isWhole(payload)) useMarks(payload)
    return payload
  }

  #encodeData(message: Message, index: number, target: CallTarget | undefined): Payload {
    // Call arguments: an Array (rest parameters, or what call() was given), written as a plain one.
    const type = message[0]
    const argsAt = type === MessageType.Call || type === MessageType.Notify || type === MessageType.CallReference ? index : -1
    const fast = this.#fastEncode(message, LARGE_BINARY, argsAt)
    if (fast !== undefined) return fast
    // Functions, ref() objects, AbortSignals and stubs become reference tags, which exports them; if
    // the message then fails to encode, the exports made for it are undone. The same walk refuses what
    // would not travel (sendable.ts); without references, functions are refused too.
    const references = this.references
    const data = (message as unknown[])[index]
    let payload: Payload
    try {
      // cbor-x would write arguments in an Array subclass with an indefinite length, and in an array
      // claiming another constructor as that: they travel as their elements, as the fast path writes them.
      const plain = argsAt >= 0 ? this.#plainArguments(data) : data
      const substituted = substituteReferences(plain, references ?? NO_REFERENCES)
      if (substituted === data) payload = this.#encodeGeneral(message, index, -1)
      else {
        const copy = (message as unknown[]).slice()
        copy[index] = substituted
        payload = this.#encodeGeneral(copy as Message, index, substituted === plain ? -1 : REFERENCE_TAG)
      }
    } catch (error) {
      references?.settle(undefined)
      if (error instanceof Unsendable) throw unsendableError(error, data, rootName(dataKind(message), target))
      // A getter of the value threw while it was walked.
      throw error instanceof SerializationError ? error : new SerializationError(describeEncodeFailure(error), { cause: error })
    }
    references?.settle(payload)
    return payload
  }

  /**
   * Call arguments as a plain Array: `args` itself when it is one, else its elements by index (up to
   * the item limit, which the encoding then fails on anyway: nothing unbounded is copied).
   */
  #plainArguments(args: unknown): unknown {
    if (!Array.isArray(args) || args.constructor === Array || args.length > this.peerMaxFrameItems) return args
    const plain: unknown[] = []
    for (let i = 0; i < args.length; i++) plain.push(args[i])
    return plain
  }

  /** cbor-x's path of {@link encodeData}, with large binaries kept out of the encoder. */
  #encodeGeneral(message: Message, index: number, extraTag: number): Payload {
    const found: Found[] = []
    const value = swapLarge((message as unknown[])[index], found, 2, this.#markerBase)
    if (found.length === 0) return this.#encode(message, extraTag)
    const substituted = (message as unknown[]).slice()
    substituted[index] = value
    const encoded = this.#encode(substituted as Message, extraTag)
    const positions = found.map((_, i) => findMarker(encoded, this.#markerBase, i))
    const order = found.map((_, i) => i).sort((a, b) => positions[a] - positions[b])
    const chunks: Uint8Array[] = []
    let cursor = 0
    for (const i of order) {
      const at = positions[i]
      if (at < 0) throw new SerializationError('large binary value lost while encoding')
      chunks.push(encoded.subarray(cursor, at), byteStringHeader(found[i]), found[i].bytes)
      cursor = at + MARKER_ENCODED_SIZE
    }
    chunks.push(encoded.subarray(cursor))
    return chunks
  }

  /**
   * Encodes a message to one payload.
   * @throws SerializationError when a value cannot be encoded (a symbol, a cycle), is outside the
   *   profile, or holds more than {@link peerMaxFrameItems} data items. Only {@link encodeData} puts
   *   references in place of functions.
   */
  encode(message: Message): Uint8Array {
    const fast = this.#fastEncode(message, 0, -1)
    if (fast !== undefined) return fast as Uint8Array
    return this.#encode(message, -1)
  }

  /** cbor-x, then the sender's profile check; `extraTag` is the reference tag where references were put. */
  #encode(message: Message, extraTag: number): Uint8Array {
    let payload: Uint8Array
    try {
      payload = this.#encoder.encode(message)
    } catch (error) {
      throw new SerializationError(describeEncodeFailure(error), { cause: error })
    }
    // What the peer would refuse (an oversized bignum, an iterable written with an indefinite length,
    // an Error value with an unusual name, too many items) fails here, for this message only. The scan
    // runs only where such a thing can be: a payload over the bignum cap or with more bytes than the
    // peer's item limit (every item takes a byte), or one holding a break byte (which every indefinite
    // length needs) or a tag-27 head (which counts for more items); nearly all small messages skip it.
    const limit = this.peerMaxFrameItems
    if (payload.length > MAX_BIGNUM_BYTES || payload.length > limit || payload.indexOf(0xff) !== -1 || hasTag27(payload)) {
      const problem = profileViolation(payload, limit, extraTag)
      if (problem !== undefined) throw new SerializationError(`value cannot be sent: ${problem}`)
    }
    return payload
  }

  /**
   * The fast path (fast-encode.ts), or undefined for cbor-x. What it writes needs no sender-side check
   * but the item count, which it keeps itself: no indefinite lengths, no tag 27, no bignum over
   * MAX_BIGNUM_BYTES (it leaves larger ones to cbor-x and the check below).
   */
  #fastEncode(message: Message, largeBinaryFrom: number, argsAt: number): Payload | undefined {
    let fast: ReturnType<typeof fastEncodeMessage>
    try {
      fast = fastEncodeMessage(message, largeBinaryFrom, this.peerMaxFrameItems, argsAt)
    } catch (error) {
      // A getter of the value threw.
      throw new SerializationError(describeEncodeFailure(error), { cause: error })
    }
    // TOO_MANY_ITEMS, told by its type as isGeneral tells GENERAL (a payload is an object). Written out:
    // a helper here was not inlined and cost 7 instructions a message.
    if (typeof fast === 'symbol') {
      throw new SerializationError(`value cannot be sent: more than ${this.peerMaxFrameItems} data items (maxFrameItems)`)
    }
    return fast
  }

  /**
   * Decodes a payload that arrived in pieces: their concatenation, as {@link decode} decodes it. When
   * they alternate between the rest of the payload and the whole content of a byte string whose head
   * ends the piece before (as a message port sends large binaries, PROTOCOL.md section 2.2), those
   * contents become the decoded values themselves, uncopied; any other split costs a join.
   * @throws ProtocolError as {@link decode}.
   */
  decodePieces(pieces: readonly Uint8Array[]): unknown {
    if (pieces.length >= 3 && pieces.length % 2 === 1) {
      let size = 0
      for (let i = 0; i < pieces.length; i += 2) size += pieces[i].byteLength
      const rest = new Uint8Array(size)
      const contents: Uint8Array[] = []
      const cuts: number[] = []
      let offset = 0
      for (let i = 0; i < pieces.length; i++) {
        const piece = pieces[i]
        if (i % 2 === 0) {
          rest.set(piece, offset)
          offset += piece.byteLength
        } else {
          // A Uint8Array of its own, whatever the class of the piece: as a view of `rest` would be.
          contents.push(piece.constructor === Uint8Array ? piece : new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength))
          cuts.push(offset)
        }
      }
      const fast = fastDecode(rest, this.maxFrameItems, contents, cuts)
      if (!isGeneral(fast)) return fast
    }
    return this.decode(joinPayload(pieces))
  }

  /** Whether `value` can be encoded; used to drop what cannot travel from an error's properties. */
  canEncode(value: unknown): boolean {
    let payload: Uint8Array
    try {
      payload = this.#encoder.encode(value)
    } catch {
      return false
    }
    // As encode() checks: what the peer would refuse (an oversized bignum, say) cannot travel either.
    return profileViolation(payload, this.peerMaxFrameItems) === undefined
  }

  /**
   * Decodes one payload, after checking it keeps to the profile (see profile.ts).
   * @throws ProtocolError when the payload is not well-formed CBOR within the profile, or holds more
   *   than {@link maxFrameItems} data items.
   */
  decode(payload: Uint8Array): unknown {
    const fast = fastDecode(payload, this.maxFrameItems)
    if (!isGeneral(fast)) return fast
    const references = this.references
    const accepting = references !== undefined && references.accepting
    const hasReferences = checkProfile(payload, this.maxFrameItems, accepting ? REFERENCE_TAG : -1)
    let decoded: unknown
    try {
      decoded = this.#decoder.decode(payload)
    } catch (error) {
      throw new ProtocolError(`malformed CBOR payload: ${(error as Error)?.message ?? String(error)}`, { cause: error })
    }
    // Only a payload the profile check saw a reference tag in is walked.
    return hasReferences ? restoreReferences(decoded, references!) : decoded
  }
}

/** The hooks of a codec without reference tables: a function is refused as cbor-x refuses it. */
const NO_REFERENCES: ReferenceHooks = {
  encodeReference: () => undefined,
  decodeReference: () => undefined,
}

/** What the data of `message` is, in an error. */
function dataKind(message: Message): 'args' | 'result' | 'item' | 'progress' {
  const type = message[0]
  return type === MessageType.Result ? 'result' : type === MessageType.Item ? 'item' : type === MessageType.Progress ? 'progress' : 'args'
}

/** Whether the bytes 0xd8 0x1b (tag 27, an Error or RegExp passed as a value) occur. */
function hasTag27(payload: Uint8Array): boolean {
  for (let at = payload.indexOf(0xd8); at !== -1; at = payload.indexOf(0xd8, at + 1)) {
    if (payload[at + 1] === 0x1b) return true
  }
  return false
}

/** A binary value taken out of a message: its bytes, and the tag cbor-x writes before them (or -1). */
interface Found {
  readonly bytes: Uint8Array
  readonly tag: number
}

/**
 * Replaces large Uint8Arrays and Buffers, and binary values whose buffer transfer() listed, in `value`
 * (and, `depth` levels down, in small arrays and plain objects) by markers, recording them in `found`.
 * Returns `value` itself when nothing was replaced.
 */
function swapLarge(value: unknown, found: Found[], depth: number, base: Uint8Array): unknown {
  if (typeof value !== 'object' || value === null) return value
  const binary = binaryOf(value)
  if (binary !== undefined) {
    const { bytes, tag } = binary
    const listed = pendingTransfers > 0 && isListed(bytes)
    if (found.length > 255 || (!listed && (bytes.byteLength < LARGE_BINARY || !(value instanceof Uint8Array)))) return value
    const marker = new Uint8Array(17)
    marker.set(base)
    marker[16] = found.length
    found.push({ bytes: listed ? transferableChunk(bytes) : bytes, tag })
    return marker
  }
  if (depth === 0 || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    if (value.length > LARGE_BINARY_SCAN_WIDTH) return value
    let copy: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const member = value[i]
      if (typeof member !== 'object' || member === null) continue
      const swapped = swapLarge(member, found, depth - 1, base)
      if (swapped !== member) (copy ??= value.slice())[i] = swapped
    }
    return copy ?? value
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  const keys = Object.keys(value)
  if (keys.length > LARGE_BINARY_SCAN_WIDTH) return value
  let copy: Record<string, unknown> | undefined
  for (const key of keys) {
    const member = (value as Record<string, unknown>)[key]
    if (typeof member !== 'object' || member === null) continue
    const swapped = swapLarge(member, found, depth - 1, base)
    if (swapped !== member) (copy ??= { ...(value as Record<string, unknown>) })[key] = swapped
  }
  return copy ?? value
}

/** Where marker `index` was encoded (the start of its tag), or -1. */
function findMarker(encoded: Uint8Array, base: Uint8Array, index: number): number {
  const last = encoded.byteLength - MARKER_ENCODED_SIZE
  outer: for (let at = 0; at <= last; at++) {
    if (encoded[at] !== MARKER_HEAD[0] || encoded[at + 1] !== MARKER_HEAD[1] || encoded[at + 2] !== MARKER_HEAD[2]) continue
    for (let i = 0; i < 16; i++) if (encoded[at + 3 + i] !== base[i]) continue outer
    if (encoded[at + 19] === index) return at
  }
  return -1
}

/** The header of a byte string of `data`'s length, with tag 64 for a plain Uint8Array as cbor-x writes it. */
/** The bytes of a binary value as cbor-x writes them, and its tag (-1: none), or undefined for anything else. */
function binaryOf(value: object): Found | undefined {
  // An ArrayBuffer and a Buffer are untagged byte strings; a typed array is tagged with its type.
  if (value instanceof ArrayBuffer) return { bytes: new Uint8Array(value), tag: -1 }
  if (!ArrayBuffer.isView(value) || value instanceof DataView) return undefined
  const bytes = value instanceof Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  if (value.constructor === Uint8Array) return { bytes, tag: 64 }
  const tag = TYPED_ARRAY_TAGS.get(value.constructor as TypedArrayClass)
  return tag !== undefined ? { bytes, tag } : value instanceof Uint8Array ? { bytes, tag: -1 } : undefined
}

function byteStringHeader({ bytes, tag }: Found): Uint8Array {
  const length = bytes.byteLength
  // The shortest head, as cbor-x writes it: a value transfer() listed may be small.
  const size = length < 24 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
  const header = new Uint8Array((tag >= 0 ? 2 : 0) + size)
  let at = 0
  if (tag >= 0) {
    header[at++] = 0xd8
    header[at++] = tag
  }
  header[at] = size === 1 ? 0x40 + length : size === 2 ? 0x58 : size === 3 ? 0x59 : 0x5a
  for (let i = size - 1, n = length; i >= 1; i--, n >>>= 8) header[at + i] = n & 0xff
  return header
}

function describeEncodeFailure(error: unknown): string {
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return 'value cannot be serialized: it is cyclic or nested too deeply'
  }
  const detail = (error as Error)?.message ?? String(error)
  return `value cannot be serialized: ${detail}`
}
