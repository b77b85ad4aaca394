/**
 * Length-prefixed framing for byte streams: each frame is a uint32 big-endian payload length followed
 * by the payload. Message-port transports carry payloads as they are and do not use this file.
 */
import { ProtocolError } from './errors.js'

/**
 * One encoded message: a single buffer, or chunks to be written back to back (a large binary value
 * travels as its own chunk so that it is never copied on the way out).
 */
export type Payload = Uint8Array | readonly Uint8Array[]

/**
 * Whether a payload is one buffer rather than pieces. Tested on every frame: an array test costs less
 * than `instanceof Uint8Array`, which walks a Buffer's prototype chain.
 */
export function isWhole(payload: Payload): payload is Uint8Array {
  return !Array.isArray(payload)
}

/**
 * Total bytes of a payload. `length`, here and on every Uint8Array of the hot path, rather than
 * `byteLength`, which is the same for a Uint8Array: V8 11 (Node 20) compiles `length` inline, but
 * `byteLength` (as `byteOffset` and `buffer`) to a call through its inline cache, 13 ns against 1.
 */
export function payloadLength(payload: Payload): number {
  if (isWhole(payload)) return payload.length
  let length = 0
  for (const chunk of payload) length += chunk.length
  return length
}

/** A payload as one buffer, copying only when it is made of chunks. */
export function joinPayload(payload: Payload): Uint8Array {
  if (isWhole(payload)) return payload
  const joined = new Uint8Array(payloadLength(payload))
  let offset = 0
  for (const chunk of payload) {
    joined.set(chunk, offset)
    offset += chunk.length
  }
  return joined
}

/** The first `length` bytes of a payload (all of it when shorter), contiguous: a view when the first chunk holds them. */
export function payloadHead(payload: Payload, length: number): Uint8Array {
  if (isWhole(payload)) return payload
  if (payload.length === 0) return new Uint8Array(0)
  if (payload[0].length >= length || payload.length === 1) return payload[0]
  const head = new Uint8Array(Math.min(length, payloadLength(payload)))
  let offset = 0
  for (const chunk of payload) {
    if (offset === head.length) break
    const part = chunk.subarray(0, head.length - offset)
    head.set(part, offset)
    offset += part.length
  }
  return head
}

/** Bytes in a frame header. */
export const HEADER_SIZE = 4

/** Frames from this size on are copied out of a chunk more than twice their size; see #take. */
const PIN_COPY_MIN = 4096

/**
 * Frames from this size on are assembled in a buffer of their own once an eighth of them has arrived,
 * each chunk copied in as it comes and let go, rather than held until the frame is complete: a 16 MiB
 * frame then takes 16 MiB, not twice that, and the socket's read buffers are reused instead of being
 * fresh memory each time (first touches of new pages are most of a large frame's cost on some machines).
 * Not at the header: a peer that announces a large frame and sends little makes this side reserve at
 * most eight times what it sent.
 */
const ASSEMBLE_MIN = 1024 * 1024

/** Largest length the header can express. */
export const MAX_FRAME_LENGTH = 0xffffffff

/** Writes the 4-byte header for a payload of `length` bytes. */
export function encodeHeader(length: number): Uint8Array {
  const header = new Uint8Array(HEADER_SIZE)
  writeHeader(header, 0, length)
  return header
}

/** Writes a header for `length` at `offset` of `target`. */
export function writeHeader(target: Uint8Array, offset: number, length: number): void {
  target[offset] = length >>> 24
  target[offset + 1] = (length >>> 16) & 0xff
  target[offset + 2] = (length >>> 8) & 0xff
  target[offset + 3] = length & 0xff
}

/**
 * Incremental frame decoder. Chunks are kept in a list as they arrive; a frame that lies inside one
 * chunk is handed out as a view of it, and only a frame that spans chunks is copied, once, when it is
 * complete. Work is therefore linear in the bytes received however the stream is split.
 */
export class FrameDecoder {
  #maxFrameSize: number
  readonly #chunks: Uint8Array[] = []
  /** Read position inside `#chunks[0]`. */
  #offset = 0
  /** Unread bytes over all chunks. */
  #buffered = 0
  /** Payload length of the frame being assembled, or -1 while its header is incomplete. */
  #expected = -1
  /** The buffer a large frame is copied into as it arrives (see ASSEMBLE_MIN), and the bytes it has. */
  #assembly: Uint8Array | undefined
  #filled = 0

  readonly #allocate: (length: number) => Uint8Array

  /**
   * @param maxFrameSize largest payload accepted; a larger header is a ProtocolError before any allocation.
   * @param allocate makes the buffer a frame is copied into (one that spans chunks, or a sizeable one
   *   in a much larger chunk), every byte of which is then written: Node's stream transport passes
   *   `allocateFrame` (`Buffer.allocUnsafeSlow`, which skips zeroing and may reuse memory the
   *   allocator already has, and a hint to glibc on the first large frame: transports/frame-memory.ts),
   *   where `new Uint8Array` takes fresh zeroed pages for large frames. Not `allocUnsafe`: small
   *   frames would land in Node's shared pool, and a decoded byte string's `.buffer` would show it.
   */
  constructor(maxFrameSize: number, allocate: (length: number) => Uint8Array = (length) => new Uint8Array(length)) {
    this.#maxFrameSize = maxFrameSize
    this.#allocate = allocate
  }

  /**
   * Changes the largest payload accepted from the next header on: a transport keeps it small until
   * the peer has completed its handshake.
   */
  set maxFrameSize(value: number) {
    this.#maxFrameSize = value
  }

  /**
   * While true, complete frames are held instead of handed out, from the next frame on (also in the
   * middle of a chunk): a transport that pauses must stop delivering at once, since a stream can
   * hand over megabytes in one chunk (Wine's named pipes do). `deliverHeld` hands them out later.
   */
  paused = false

  /** Unread bytes held, for callers that cap what an unauthenticated peer may buffer. */
  get buffered(): number {
    return this.#buffered
  }

  /**
   * Feeds a chunk and calls `onFrame` for every complete payload, in order, until `paused`.
   * @throws ProtocolError when a header announces more than `maxFrameSize`.
   */
  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): void {
    if (chunk.length === 0) return
    if (this.#assembly) {
      const rest = this.#fill(this.#assembly, chunk)
      if (!rest) return
      if (rest.length > 0) {
        this.#chunks.push(rest)
        this.#buffered += rest.length
      }
      this.deliverHeld(onFrame)
      return
    }
    if (this.#buffered === 0 && this.#expected < 0) {
      // Nothing held from earlier chunks (the usual case): whole frames are read straight out of this
      // one, and only what remains of it is kept.
      const offset = this.#pushWhole(chunk, onFrame)
      if (offset === chunk.length) return
      chunk = chunk.subarray(offset)
    }
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    this.deliverHeld(onFrame)
  }

  /**
   * Hands out the complete frames held (after a pause), until `paused` is set again.
   * @throws ProtocolError when a header announces more than `maxFrameSize`.
   */
  deliverHeld(onFrame: (payload: Uint8Array) => void): void {
    while (!this.paused) {
      if (this.#expected < 0) {
        if (this.#buffered < HEADER_SIZE) return
        const length = this.#readHeader()
        if (length > this.#maxFrameSize) {
          throw new ProtocolError(`frame of ${length} bytes exceeds the limit of ${this.#maxFrameSize} bytes`)
        }
        this.#expected = length
      }
      if (this.#buffered < this.#expected) {
        if (this.#expected >= ASSEMBLE_MIN && this.#buffered * 8 >= this.#expected) this.#assemble()
        return
      }
      const payload = this.#take(this.#expected)
      this.#expected = -1
      onFrame(payload)
    }
  }

  /** Starts assembling the incomplete frame held, `#expected` bytes long, from the bytes held so far. */
  #assemble(): void {
    const frame = this.#allocate(this.#expected)
    let filled = 0
    for (let i = 0; i < this.#chunks.length; i++) {
      const part = i === 0 ? this.#chunks[0].subarray(this.#offset) : this.#chunks[i]
      frame.set(part, filled)
      filled += part.length
    }
    this.#chunks.length = 0
    this.#offset = 0
    this.#buffered = 0
    this.#assembly = frame
    this.#filled = filled
  }

  /**
   * Copies the start of `chunk` into the frame being assembled. Returns what is left of the chunk once
   * the frame is complete (the frame is then held as a chunk of its own, ahead of it), or undefined.
   */
  #fill(frame: Uint8Array, chunk: Uint8Array): Uint8Array | undefined {
    const need = frame.length - this.#filled
    if (chunk.length < need) {
      frame.set(chunk, this.#filled)
      this.#filled += chunk.length
      return undefined
    }
    frame.set(need === chunk.length ? chunk : chunk.subarray(0, need), this.#filled)
    this.#assembly = undefined
    this.#chunks.push(frame)
    this.#buffered = frame.length
    return chunk.subarray(need)
  }

  /** Hands out the complete frames at the start of `chunk`; returns where the first incomplete one starts. */
  #pushWhole(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): number {
    const end = chunk.length
    let offset = 0
    while (!this.paused && end - offset >= HEADER_SIZE) {
      const length = ((chunk[offset] << 24) | (chunk[offset + 1] << 16) | (chunk[offset + 2] << 8) | chunk[offset + 3]) >>> 0
      if (length > this.#maxFrameSize) {
        throw new ProtocolError(`frame of ${length} bytes exceeds the limit of ${this.#maxFrameSize} bytes`)
      }
      const start = offset + HEADER_SIZE
      if (end - start < length) break
      offset = start + length
      // As in #take: a sizeable frame is copied out of a much larger chunk rather than pinning it.
      onFrame(length >= PIN_COPY_MIN && end > 2 * length ? this.#copy(chunk, start, offset) : chunk.subarray(start, offset))
    }
    return offset
  }

  /**
   * A copy of `chunk[from, to)` in memory of its own. (`chunk.slice` would not do: on a Buffer it is a
   * view.)
   */
  #copy(chunk: Uint8Array, from: number, to: number): Uint8Array {
    const copy = this.#allocate(to - from)
    copy.set(chunk.subarray(from, to))
    return copy
  }

  #readHeader(): number {
    const first = this.#chunks[0]
    const offset = this.#offset
    if (first.length - offset > HEADER_SIZE) {
      // The common case, read in place: no view is made for four bytes. (When the header ends the
      // chunk exactly, #take drops the chunk.)
      this.#offset = offset + HEADER_SIZE
      this.#buffered -= HEADER_SIZE
      return ((first[offset] << 24) | (first[offset + 1] << 16) | (first[offset + 2] << 8) | first[offset + 3]) >>> 0
    }
    const bytes = this.#take(HEADER_SIZE)
    return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0
  }

  /** Removes `length` bytes from the front: a view when they lie in one chunk, else one copy. */
  #take(length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0)
    this.#buffered -= length
    const first = this.#chunks[0]
    const available = first.length - this.#offset
    if (length <= available) {
      // A sizeable frame in a much larger chunk is copied out: values decoded from it (byte strings are
      // views) must not keep the whole chunk alive after the rest of it is garbage.
      const view =
        length >= PIN_COPY_MIN && first.length > 2 * length
          ? this.#copy(first, this.#offset, this.#offset + length)
          : first.subarray(this.#offset, this.#offset + length)
      this.#offset += length
      if (this.#offset === first.length) {
        this.#chunks.shift()
        this.#offset = 0
      }
      return view
    }
    // Copy across chunks, then drop the consumed ones in one splice: shifting per chunk would make a
    // frame fed one byte at a time quadratic.
    const out = this.#allocate(length)
    let filled = 0
    let index = 0
    while (filled < length) {
      const chunk = this.#chunks[index]
      const n = Math.min(length - filled, chunk.length - this.#offset)
      out.set(chunk.subarray(this.#offset, this.#offset + n), filled)
      filled += n
      this.#offset += n
      if (this.#offset === chunk.length) {
        index++
        this.#offset = 0
      }
    }
    this.#chunks.splice(0, index)
    return out
  }
}
