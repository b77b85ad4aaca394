import type { Readable, Writable } from 'node:stream'
import type { Transport, TransportSink } from '../core/transport.js'
import { FrameDecoder, HEADER_SIZE, writeHeader } from '../protocol/framing.js'

/** Payloads up to this size are copied behind their header into one buffer; larger ones go as two chunks. */
const COPY_LIMIT = 64 * 1024
/** How long a graceful close waits for the peer to end its side before the stream is destroyed. */
const CLOSE_GRACE_MS = 2000

/** Options of a byte-stream transport. */
export interface StreamTransportOptions {
  /** Largest frame accepted; see ChannelOptions.maxFrameSize. */
  maxFrameSize: number
}

/**
 * Carries length-prefixed frames over a Node readable/writable pair: a socket, a child's pipes.
 * Frames written in one tick leave in one corked batch.
 */
export class StreamTransport implements Transport {
  readonly #readable: Readable
  readonly #writable: Writable
  readonly #decoder: FrameDecoder
  #sink: TransportSink | undefined
  #corked = false
  #ended = false
  #closeTimer: ReturnType<typeof setTimeout> | undefined

  constructor(readable: Readable, writable: Writable, options: StreamTransportOptions) {
    this.#readable = readable
    this.#writable = writable
    this.#decoder = new FrameDecoder(options.maxFrameSize)
  }

  start(sink: TransportSink): void {
    this.#sink = sink
    const onFrame = (payload: Uint8Array): void => sink.message(payload)
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

  send(payload: Uint8Array): boolean {
    if (this.#ended || this.#writable.writableEnded || this.#writable.destroyed) return false
    if (!this.#corked) {
      // Everything sent in this tick leaves in one write when the tick ends.
      this.#corked = true
      this.#writable.cork()
      process.nextTick(() => {
        if (!this.#corked) return
        this.#corked = false
        this.#writable.uncork()
      })
    }
    const length = payload.byteLength
    if (length <= COPY_LIMIT) {
      const frame = Buffer.allocUnsafe(HEADER_SIZE + length)
      writeHeader(frame, 0, length)
      frame.set(payload, HEADER_SIZE)
      return this.#writable.write(frame)
    }
    // Large payloads are not copied: header and payload go as two chunks of the same batch.
    const header = Buffer.allocUnsafe(HEADER_SIZE)
    writeHeader(header, 0, length)
    this.#writable.write(header)
    return this.#writable.write(payload)
  }

  close(): void {
    if (this.#ended || this.#closeTimer) return
    this.#writable.end()
    this.#closeTimer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS)
    this.#closeTimer.unref()
  }

  destroy(error?: Error): void {
    if (this.#corked) {
      // Frames of this tick (a handshake proof before an authentication failure) still leave: libuv
      // writes them to the kernel at once, before the handle closes.
      this.#corked = false
      this.#writable.uncork()
    }
    this.#readable.destroy()
    if ((this.#writable as unknown) !== this.#readable) this.#writable.destroy()
    this.#finish(error)
  }

  #finish(error?: Error): void {
    if (this.#ended) return
    this.#ended = true
    clearTimeout(this.#closeTimer)
    if (!this.#readable.destroyed) {
      // The peer ended its side; make sure ours does not linger half-open.
      this.#writable.end()
    }
    this.#sink?.closed(error)
  }
}
