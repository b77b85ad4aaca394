/**
 * The handshake frames a peer may send before it has authenticated (hello, auth, goodbye), checked
 * against their fixed shapes on the bytes and decoded by hand, so that one costs about the same
 * whatever it holds. The general decoder would build whatever the frame describes first (a 64 KiB
 * hello of Error values, tag 27, made the receiver capture some 13,000 stack traces, 25 times the cost
 * of a plain hello) and only then let the handshake look at the five fields it needs.
 *
 * Shapes (PROTOCOL.md section 5.5):
 * - hello `[0, "ipc-channel", version, nonce, options]`: version an unsigned integer, nonce null or a
 *   32-byte byte string (tag 64 allowed), options a map with text keys. `window`, `maxFrameSize`,
 *   `role`, `features`, `maxReferences` and `notifyErrors` are read; an invalid value of theirs, like
 *   any other key, is ignored. The options element may be missing or something other than a map
 *   (ignored, as section 13.3 says). `features` is bounded: more than {@link MAX_FEATURES} elements is
 *   malformed, and only text strings of at most {@link MAX_FEATURE_NAME} bytes are read as names.
 * - auth `[1, proof]`: proof a 32-byte byte string (tag 64 allowed).
 * - goodbye `[13, reason]`: reason text or anything else (read as null).
 * What is ignored (unknown option values, elements after the defined ones) is skipped without being
 * decoded, and may hold no tags and no arrays or maps nested deeper than {@link MAX_SKIPPED_NESTING}.
 */
import { ProtocolError } from './errors.js'
import {
  MAGIC,
  MAX_FEATURE_NAME,
  MAX_FEATURES,
  MAX_REFERENCES,
  MessageType,
  PROTOCOL_VERSION,
  type AuthMessage,
  type GoodbyeMessage,
  type HelloMessage,
  type HelloOptions,
} from './messages.js'

/** Bytes of a nonce and of a proof. */
export const HANDSHAKE_SECRET_BYTES = 32

/** Arrays and maps nested in an ignored part of a handshake frame (an unknown option's value), at most. */
export const MAX_SKIPPED_NESTING = 4

/** A handshake frame, decoded. */
export type HandshakeMessage = HelloMessage | AuthMessage | GoodbyeMessage

const MAGIC_BYTES = new TextEncoder().encode(MAGIC)
const KEY_WINDOW = new TextEncoder().encode('window')
const KEY_MAX_FRAME_SIZE = new TextEncoder().encode('maxFrameSize')
const KEY_ROLE = new TextEncoder().encode('role')
const KEY_MAX_REFERENCES = new TextEncoder().encode('maxReferences')
const KEY_FEATURES = new TextEncoder().encode('features')
const KEY_NOTIFY_ERRORS = new TextEncoder().encode('notifyErrors')
// Lenient, as cbor-x decodes text: invalid UTF-8 becomes replacement characters.
const textDecoder = new TextDecoder()

/** Longest text of a received magic quoted in an error message. */
const QUOTED_MAGIC = 64

/**
 * Decodes a hello, auth or goodbye frame after checking it against its fixed shape, reading nothing
 * it does not need. Costs time linear in the frame's bytes and allocates only the fields it returns.
 * @throws ProtocolError naming the first thing that does not fit: another message type, a malformed
 *   hello or auth, a magic other than "ipc-channel", another protocol version.
 */
export function decodeHandshake(payload: Uint8Array): HandshakeMessage {
  const reader = new Reader(payload)
  const count = reader.arrayHead()
  if (count < 1) throw new ProtocolError('malformed handshake message: not an array starting with its type')
  const type = reader.uint()
  let message: HandshakeMessage
  let defined: number
  switch (type) {
    case MessageType.Hello:
      message = readHello(reader, count)
      defined = 5
      break
    case MessageType.Auth:
      if (count < 2) throw new ProtocolError('malformed auth message')
      message = [MessageType.Auth, readSecretBytes(reader, 'malformed auth message')]
      defined = 2
      break
    case MessageType.Goodbye:
      message = [MessageType.Goodbye, count >= 2 ? readReason(reader) : null]
      defined = 2
      break
    default:
      throw new ProtocolError(
        type < 0 ? 'malformed handshake message: not an array starting with its type' : `message type ${type} sent before the handshake completed`,
      )
  }
  const what = type === MessageType.Hello ? 'hello' : type === MessageType.Auth ? 'auth message' : 'goodbye'
  for (let i = defined; i < count; i++) reader.skip(MAX_SKIPPED_NESTING, what)
  if (!reader.done()) throw new ProtocolError(`malformed ${what}: bytes after the end of the message`)
  return message
}

function readHello(reader: Reader, count: number): HelloMessage {
  // Four elements: the options are missing, which reads as none (PROTOCOL.md section 13.3).
  if (count < 4) throw new ProtocolError(`malformed hello: ${count} elements, expected 5`)
  const magic = reader.magic()
  if (magic !== MAGIC) throw new ProtocolError(`not an ipc-channel peer (magic ${magic})`)
  const version = reader.uint()
  if (version < 0) throw new ProtocolError('malformed hello: the version is not an unsigned integer')
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(`protocol version mismatch: this side speaks ${PROTOCOL_VERSION}, the peer ${version}`)
  }
  const nonce = reader.peekNull() ? null : readSecretBytes(reader, 'malformed hello: bad nonce')
  const options: HelloOptions = count >= 5 ? readOptions(reader) : {}
  return [MessageType.Hello, MAGIC, PROTOCOL_VERSION, nonce, options]
}

/** A 32-byte byte string, tagged 64 or not, copied out of the frame. */
function readSecretBytes(reader: Reader, problem: string): Uint8Array {
  const bytes = reader.byteString(true)
  if (bytes === undefined || bytes.byteLength !== HANDSHAKE_SECRET_BYTES) throw new ProtocolError(problem)
  // A copy in a plain Uint8Array: a Buffer's slice() would be a view keeping the frame alive.
  return new Uint8Array(bytes)
}

function readReason(reader: Reader): string | null {
  const reason = reader.text()
  if (reason !== undefined) return reason
  reader.skip(MAX_SKIPPED_NESTING, 'goodbye')
  return null
}

/** The options map: the known keys with valid values; the rest skipped. Anything but a map: no options. */
function readOptions(reader: Reader): HelloOptions {
  const options: HelloOptions = {}
  const pairs = reader.mapHead()
  if (pairs < 0) {
    reader.skip(MAX_SKIPPED_NESTING, 'hello')
    return options
  }
  for (let i = 0; i < pairs; i++) {
    const key = reader.textSpan()
    if (key === undefined) throw new ProtocolError('malformed hello: an option key is not a text string')
    if (reader.equals(key, KEY_WINDOW)) {
      const value = reader.optionValue()
      if (isCount(value)) options.window = value
      else delete options.window
    } else if (reader.equals(key, KEY_MAX_FRAME_SIZE)) {
      const value = reader.optionValue()
      if (isCount(value)) options.maxFrameSize = value
      else delete options.maxFrameSize
    } else if (reader.equals(key, KEY_ROLE)) {
      const value = reader.optionValue()
      if (value === 'client' || value === 'server') options.role = value
      else delete options.role
    } else if (reader.equals(key, KEY_MAX_REFERENCES)) {
      const value = reader.optionValue()
      if (isCount(value) && value <= MAX_REFERENCES) options.maxReferences = value
      else delete options.maxReferences
    } else if (reader.equals(key, KEY_FEATURES)) {
      const features = readFeatures(reader)
      if (features !== undefined) options.features = features
      else delete options.features
    } else if (reader.equals(key, KEY_NOTIFY_ERRORS)) {
      if (reader.optionValue() === true) options.notifyErrors = true
      else delete options.notifyErrors
    } else {
      reader.skip(MAX_SKIPPED_NESTING, 'hello')
    }
  }
  return options
}

/**
 * The `features` option: the names in an array of at most {@link MAX_FEATURES} elements. Elements that
 * are not text strings of 1 to {@link MAX_FEATURE_NAME} bytes name nothing this side knows and are
 * skipped; a value that is not an array is skipped as a whole (undefined).
 */
function readFeatures(reader: Reader): string[] | undefined {
  const count = reader.arrayHead()
  if (count < 0) {
    reader.skip(MAX_SKIPPED_NESTING, 'hello')
    return undefined
  }
  if (count > MAX_FEATURES) throw new ProtocolError(`malformed hello: ${count} features, more than ${MAX_FEATURES}`)
  const features: string[] = []
  for (let i = 0; i < count; i++) {
    const span = reader.textSpan()
    if (span === undefined) reader.skip(MAX_SKIPPED_NESTING - 1, 'hello')
    else if (span[1] > span[0] && span[1] - span[0] <= MAX_FEATURE_NAME) features.push(reader.decodeSpan(span))
  }
  return features
}

/** A positive integer small enough to be exact, as the handshake requires of `window` and `maxFrameSize`. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1
}

const float32 = new Float32Array(1)
const float32Bytes = new Uint8Array(float32.buffer)
const float64 = new Float64Array(1)
const float64Bytes = new Uint8Array(float64.buffer)
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** A cursor over one frame. Every read checks the bytes left; nothing recurses deeper than the skip bound. */
class Reader {
  readonly #bytes: Uint8Array
  #at = 0

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  done(): boolean {
    return this.#at === this.#bytes.byteLength
  }

  /** The argument of the head at the cursor, for additional information 0-27; -1 for 28-31 or a truncated head. */
  #argument(info: number, from: number): number {
    if (info < 24) return info
    if (info > 27) return -1
    const size = 1 << (info - 24)
    if (from + size > this.#bytes.byteLength) return -1
    let value = 0
    for (let i = 0; i < size; i++) value = value * 256 + this.#bytes[from + i]
    return value
  }

  /** Bytes of the head at the cursor (its initial byte and argument). */
  #headSize(info: number): number {
    return info < 24 ? 1 : 1 + (1 << (info - 24))
  }

  /** The count of a definite-length array head at the cursor, consumed; -1 (nothing consumed) otherwise. */
  arrayHead(): number {
    return this.#containerHead(4)
  }

  /** The pair count of a definite-length map head at the cursor, consumed; -1 (nothing consumed) otherwise. */
  mapHead(): number {
    return this.#containerHead(5)
  }

  #containerHead(major: number): number {
    const initial = this.#bytes[this.#at]
    if (initial === undefined || initial >> 5 !== major || (initial & 0x1f) > 26) return -1
    const count = this.#argument(initial & 0x1f, this.#at + 1)
    // Every element takes at least one byte.
    if (count < 0 || count * (major === 5 ? 2 : 1) > this.#bytes.byteLength - this.#at) return -1
    this.#at += this.#headSize(initial & 0x1f)
    return count
  }

  /** An unsigned integer (major type 0, at most a 4-byte argument) at the cursor, consumed; -1 (nothing consumed) otherwise. */
  uint(): number {
    const initial = this.#bytes[this.#at]
    if (initial === undefined || initial > 0x1a) return -1
    const value = this.#argument(initial, this.#at + 1)
    if (value >= 0) this.#at += this.#headSize(initial)
    return value
  }

  /** Whether the item at the cursor is null; consumed if so. */
  peekNull(): boolean {
    if (this.#bytes[this.#at] !== 0xf6) return false
    this.#at++
    return true
  }

  /** [start, end) of a text string's content at the cursor, consumed; undefined (nothing consumed) otherwise. */
  textSpan(): [number, number] | undefined {
    return this.#span(3)
  }

  /** A text string at the cursor, decoded and consumed; undefined (nothing consumed) otherwise. */
  text(): string | undefined {
    const span = this.#span(3)
    return span && textDecoder.decode(this.#bytes.subarray(span[0], span[1]))
  }

  /** A byte string at the cursor, as a view, behind tag 64 if `tagged`; consumed. Undefined (nothing consumed) otherwise. */
  byteString(tagged: boolean): Uint8Array | undefined {
    const start = this.#at
    if (tagged && this.#bytes[start] === 0xd8 && this.#bytes[start + 1] === 0x40) this.#at += 2
    const span = this.#span(2)
    if (span === undefined) {
      this.#at = start
      return undefined
    }
    return this.#bytes.subarray(span[0], span[1])
  }

  #span(major: number): [number, number] | undefined {
    const initial = this.#bytes[this.#at]
    if (initial === undefined || initial >> 5 !== major || (initial & 0x1f) > 27) return undefined
    const length = this.#argument(initial & 0x1f, this.#at + 1)
    const start = this.#at + this.#headSize(initial & 0x1f)
    if (length < 0 || length > this.#bytes.byteLength - start) return undefined
    this.#at = start + length
    return [start, start + length]
  }

  /** The text of `span`, decoded. */
  decodeSpan(span: [number, number]): string {
    return textDecoder.decode(this.#bytes.subarray(span[0], span[1]))
  }

  /** Whether the bytes of `span` are `expected`. */
  equals(span: [number, number], expected: Uint8Array): boolean {
    if (span[1] - span[0] !== expected.byteLength) return false
    for (let i = 0; i < expected.byteLength; i++) if (this.#bytes[span[0] + i] !== expected[i]) return false
    return true
  }

  /** The magic at the cursor: MAGIC itself, or how to quote what is there instead. */
  magic(): string {
    const span = this.textSpan()
    if (span === undefined) return 'is not a text string'
    if (this.equals(span, MAGIC_BYTES)) return MAGIC
    const text = textDecoder.decode(this.#bytes.subarray(span[0], Math.min(span[1], span[0] + QUOTED_MAGIC * 4)))
    return JSON.stringify(text.length > QUOTED_MAGIC ? `${text.slice(0, QUOTED_MAGIC)}...` : text)
  }

  /**
   * The value of a known option: a number (an unsigned or negative integer of at most 4 bytes, or a
   * float), a text string, a boolean, or undefined for anything else, which is skipped.
   */
  optionValue(): unknown {
    const initial = this.#bytes[this.#at]
    if (initial !== undefined) {
      if (initial <= 0x1a || (initial >= 0x20 && initial <= 0x3a)) {
        const n = this.#argument(initial & 0x1f, this.#at + 1)
        if (n >= 0) {
          this.#at += this.#headSize(initial & 0x1f)
          return initial < 0x20 ? n : -1 - n
        }
      } else if (initial >> 5 === 3) {
        const text = this.text()
        if (text !== undefined) return text
      } else if (initial === 0xf9 || initial === 0xfa || initial === 0xfb) {
        const value = this.#float(initial)
        if (value !== undefined) return value
      } else if (initial === 0xf4 || initial === 0xf5) {
        this.#at++
        return initial === 0xf5
      }
    }
    this.skip(MAX_SKIPPED_NESTING, 'hello')
    return undefined
  }

  #float(initial: number): number | undefined {
    const size = initial === 0xf9 ? 2 : initial === 0xfa ? 4 : 8
    const from = this.#at + 1
    if (from + size > this.#bytes.byteLength) return undefined
    const b = this.#bytes
    this.#at = from + size
    if (size === 2) {
      const half = (b[from] << 8) | b[from + 1]
      const exponent = (half >> 10) & 0x1f
      const fraction = half & 0x3ff
      const magnitude =
        exponent === 0 ? fraction * 2 ** -24 : exponent === 31 ? (fraction ? NaN : Infinity) : (fraction + 1024) * 2 ** (exponent - 25)
      return half & 0x8000 ? -magnitude : magnitude
    }
    const target = size === 4 ? float32Bytes : float64Bytes
    for (let i = 0; i < size; i++) target[littleEndian ? size - 1 - i : i] = b[from + i]
    return size === 4 ? float32[0] : float64[0]
  }

  /**
   * Steps over one item without decoding it: integers, floats, false, true, null, undefined, strings,
   * and arrays and maps of those nested at most `depth` deep. No tags.
   * @param what the message, for the error text.
   */
  skip(depth: number, what: string): void {
    const b = this.#bytes
    const initial = b[this.#at]
    if (initial === undefined) throw new ProtocolError(`malformed ${what}: truncated`)
    const major = initial >> 5
    const info = initial & 0x1f
    if (major === 7) {
      // false, true, null, undefined; half, single and double floats.
      if (info >= 20 && info <= 23) {
        this.#at += 1
      } else if (info >= 25 && info <= 27) {
        this.#at += 1 + (1 << (info - 24))
        if (this.#at > b.byteLength) throw new ProtocolError(`malformed ${what}: truncated`)
      } else {
        throw new ProtocolError(`malformed ${what}: ${info === 31 ? 'indefinite length or break' : 'unassigned simple value'}`)
      }
      return
    }
    if (major === 6) throw new ProtocolError(`malformed ${what}: tag ${this.#argument(info, this.#at + 1)} in a part that is ignored`)
    if (info > 27) throw new ProtocolError(`malformed ${what}: ${info === 31 ? 'indefinite length or break' : 'reserved additional information'}`)
    const argument = this.#argument(info, this.#at + 1)
    if (argument < 0) throw new ProtocolError(`malformed ${what}: truncated`)
    this.#at += this.#headSize(info)
    const left = b.byteLength - this.#at
    switch (major) {
      case 0:
      case 1:
        return
      case 2:
      case 3:
        if (argument > left) throw new ProtocolError(`malformed ${what}: string longer than the payload`)
        this.#at += argument
        return
      default: {
        const items = major === 5 ? argument * 2 : argument
        if (items > left) throw new ProtocolError(`malformed ${what}: more elements declared than bytes remain`)
        if (depth === 0)
          throw new ProtocolError(`malformed ${what}: arrays or maps nested deeper than ${MAX_SKIPPED_NESTING} in a part that is ignored`)
        for (let i = 0; i < items; i++) this.skip(depth - 1, what)
      }
    }
  }
}
