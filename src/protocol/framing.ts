/**
 * Length-prefixed framing for byte streams: each frame is a uint32 big-endian payload length followed
 * by the payload. Message-port transports carry payloads as they are and do not use this file.
 */
import { ProtocolError } from './errors.js'

/** Bytes in a frame header. */
export const HEADER_SIZE = 4

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

  /** @param maxFrameSize largest payload accepted; a larger header is a ProtocolError before any allocation. */
  constructor(maxFrameSize: number) {
    this.#maxFrameSize = maxFrameSize
  }

  /**
   * Changes the largest payload accepted from the next header on: a transport keeps it small until
   * the peer has completed its handshake.
   */
  set maxFrameSize(value: number) {
    this.#maxFrameSize = value
  }

  /** Unread bytes held, for callers that cap what an unauthenticated peer may buffer. */
  get buffered(): number {
    return this.#buffered
  }

  /**
   * Feeds a chunk and calls `onFrame` for every complete payload, in order.
   * @throws ProtocolError when a header announces more than `maxFrameSize`.
   */
  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): void {
    if (chunk.byteLength === 0) return
    this.#chunks.push(chunk)
    this.#buffered += chunk.byteLength
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < HEADER_SIZE) return
        const length = this.#readHeader()
        if (length > this.#maxFrameSize) {
          throw new ProtocolError(`frame of ${length} bytes exceeds the limit of ${this.#maxFrameSize} bytes`)
        }
        this.#expected = length
      }
      if (this.#buffered < this.#expected) return
      const payload = this.#take(this.#expected)
      this.#expected = -1
      onFrame(payload)
    }
  }

  #readHeader(): number {
    const bytes = this.#take(HEADER_SIZE)
    return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0
  }

  /** Removes `length` bytes from the front: a view when they lie in one chunk, else one copy. */
  #take(length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0)
    this.#buffered -= length
    const first = this.#chunks[0]
    const available = first.byteLength - this.#offset
    if (length <= available) {
      const view = first.subarray(this.#offset, this.#offset + length)
      this.#offset += length
      if (this.#offset === first.byteLength) {
        this.#chunks.shift()
        this.#offset = 0
      }
      return view
    }
    // Copy across chunks, then drop the consumed ones in one splice: shifting per chunk would make a
    // frame fed one byte at a time quadratic.
    const out = new Uint8Array(length)
    let filled = 0
    let index = 0
    while (filled < length) {
      const chunk = this.#chunks[index]
      const n = Math.min(length - filled, chunk.byteLength - this.#offset)
      out.set(chunk.subarray(this.#offset, this.#offset + n), filled)
      filled += n
      this.#offset += n
      if (this.#offset === chunk.byteLength) {
        index++
        this.#offset = 0
      }
    }
    this.#chunks.splice(0, index)
    return out
  }
}
