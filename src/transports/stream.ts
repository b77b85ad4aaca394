import { nextTick } from 'node:process'
import type { Readable, Writable } from 'node:stream'
import type { Transport, TransportSink } from '../core/transport.js'
import { FrameDecoder, HEADER_SIZE, isWhole, payloadLength, writeHeader, type Payload } from '../protocol/framing.js'
import { allocateFrame } from './frame-memory.js'

/** Payloads up to this size are copied into the tick's batch; larger ones go as their own chunk, uncopied. */
const COPY_LIMIT = 64 * 1024
/**
 * Size of a batch buffer; small frames are packed into it back to back. A connection's first is
 * FIRST_BATCH_SIZE, and each next one twice the last, up to BATCH_SIZE: an idle connection keeps only
 * what its handshake used, a busy one soon writes from 16 KiB buffers.
 */
const BATCH_SIZE = 16 * 1024
const FIRST_BATCH_SIZE = 1024
/** How long a graceful close waits for the peer to end its side before the stream is destroyed. */
const CLOSE_GRACE_MS = 2000

/** Options of a byte-stream transport. */
export interface StreamTransportOptions {
  /** Largest frame accepted; see ChannelOptions.maxFrameSize. */
  maxFrameSize: number
}

/**
 * Carries length-prefixed frames over a Node readable/writable pair: a socket, a child's pipes.
 * Small frames written in one tick are packed into one buffer and leave in one write.
 */
export class StreamTransport implements Transport {
  readonly #readable: Readable
  readonly #writable: Writable
  readonly #decoder: FrameDecoder
  #sink: TransportSink | undefined
  /** Small frames of this tick are packed here and leave in one write when the tick ends. */
  #batch: Buffer | undefined
  /** Start of the part of `#batch` not yet handed to the stream, and its end. */
  #batchStart = 0
  #batchEnd = 0
  #nextBatchSize = FIRST_BATCH_SIZE
  #flushScheduled = false
  readonly #flushTick = (): void => {
    this.#flushScheduled = false
    this.#flushBatch()
  }
  /** Hands a frame to the sink; set by start(). */
  #onFrame: (payload: Uint8Array) => void = () => {}
  /**
   * Frames held by a pause are handed out on a later turn, never inside the caller of resume(), and
   * before the stream reads on: its next chunk, or its end, must not overtake them.
   */
  #resumeScheduled = false
  readonly #resumeTick = (): void => {
    this.#resumeScheduled = false
    if (this.#ended) return
    try {
      this.#decoder.deliverHeld(this.#onFrame)
    } catch (error) {
      this.destroy(error as Error)
      return
    }
    if (!this.#decoder.paused) this.#readable.resume()
  }
  #ended = false
  #closeTimer: ReturnType<typeof setTimeout> | undefined

  constructor(readable: Readable, writable: Writable, options: StreamTransportOptions) {
    this.#readable = readable
    this.#writable = writable
    this.#decoder = new FrameDecoder(options.maxFrameSize, allocateFrame)
  }

  start(sink: TransportSink): void {
    this.#sink = sink
    const onFrame = (this.#onFrame = (payload: Uint8Array): void => sink.message(payload))
    this.#readable.on('data', (chunk: Uint8Array) => {
      if (this.#ended) return
      try {
        this.#decoder.push(chunk, onFrame)
      } catch (error) {
        this.destroy(error as Error)
      }
    })
    const onError = (error: Error): void => this.#finish(error)
    this.#readable.on('error', onError)
    this.#readable.on('end', () => this.#finish())
    this.#readable.on('close', () => this.#finish())
    if ((this.#writable as unknown) !== this.#readable) {
      this.#writable.on('error', onError)
      this.#writable.on('close', () => this.#finish())
    }
    this.#writable.on('drain', () => sink.drain())
  }

  send(payload: Payload): boolean {
    const writable = this.#writable
    if (this.#ended || writable.writableEnded || writable.destroyed) return false
    if (!isWhole(payload)) return this.#sendChunks(payload)
    const length = payload.length
    if (length > COPY_LIMIT) return this.#sendChunks([payload])
    const size = HEADER_SIZE + length
    let batch = this.#batch
    if (!batch || this.#batchEnd + size > batch.length) {
      this.#flushBatch()
      batch = this.#batch = Buffer.allocUnsafe(Math.max(this.#nextBatchSize, size))
      this.#nextBatchSize = Math.min(BATCH_SIZE, 2 * this.#nextBatchSize)
      this.#batchStart = this.#batchEnd = 0
    }
    writeHeader(batch, this.#batchEnd, length)
    batch.set(payload, this.#batchEnd + HEADER_SIZE)
    this.#batchEnd += size
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      // Imported rather than read from the global `process`, which Node defines with a getter.
      nextTick(this.#flushTick)
    }
    // False only when the stream will emit 'drain': the channel waits for it.
    return !writable.writableNeedDrain
  }

  /**
   * Large payloads are not copied: what is batched goes first, then the header and every chunk, in
   * one corked write.
   */
  #sendChunks(chunks: readonly Uint8Array[]): boolean {
    const writable = this.#writable
    const header = Buffer.allocUnsafe(HEADER_SIZE)
    writeHeader(header, 0, payloadLength(chunks))
    writable.cork()
    this.#flushBatch()
    writable.write(header)
    for (const chunk of chunks) if (chunk.byteLength > 0) writable.write(chunk)
    writable.uncork()
    return !writable.writableNeedDrain
  }

  /** Hands the batched frames to the stream; the rest of the batch buffer stays in use for later frames. */
  #flushBatch(): void {
    if (this.#batchEnd === this.#batchStart) return
    const chunk = this.#batch!.subarray(this.#batchStart, this.#batchEnd)
    this.#batchStart = this.#batchEnd
    this.#writable.write(chunk)
  }

  /** Stops delivering at once, from the next frame of the chunk being read, and stops reading. */
  pause(): void {
    this.#decoder.paused = true
    this.#readable.pause()
  }

  resume(): void {
    this.#decoder.paused = false
    if (this.#decoder.buffered === 0) this.#readable.resume()
    else if (!this.#resumeScheduled) {
      this.#resumeScheduled = true
      setImmediate(this.#resumeTick)
    }
  }

  limitFrameSize(bytes: number): void {
    this.#decoder.maxFrameSize = bytes
  }

  close(): void {
    if (this.#ended || this.#closeTimer) return
    this.#flushBatch()
    this.#writable.end()
    this.#closeTimer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS)
    this.#closeTimer.unref()
  }

  destroy(error?: Error): void {
    // Frames of this tick (a handshake proof before an authentication failure) still leave: libuv
    // writes them to the kernel at once, before the handle closes.
    if (!this.#writable.destroyed && !this.#writable.writableEnded) this.#flushBatch()
    this.#readable.destroy()
    if ((this.#writable as unknown) !== this.#readable) this.#writable.destroy()
    this.#finish(error)
  }

  #finish(error?: Error): void {
    if (this.#ended) return
    this.#ended = true
    clearTimeout(this.#closeTimer)
    if (!this.#readable.destroyed && !this.#writable.writableEnded) {
      // The peer ended its side; make sure ours does not linger half-open.
      this.#flushBatch()
      this.#writable.end()
    }
    this.#sink?.closed(error)
  }
}
