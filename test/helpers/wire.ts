/**
 * The wire protocol by hand, for tests that speak it (or break it) from raw sockets: messages encoded
 * with the library's own codec options, frames, and a raw socket that decodes what it is sent.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { Decoder, Encoder } from 'cbor-x'
import { onTestFinished } from 'vitest'
import { netPath } from './address.js'
import { CODEC_OPTIONS } from '../../dist/protocol/codec.js'
import { MAGIC, MessageType, PROTOCOL_VERSION } from '../../dist/protocol/messages.js'

const encoder = new Encoder(CODEC_OPTIONS)

export { MessageType, MAGIC, PROTOCOL_VERSION }

/** Encodes one message with the library's own codec options. */
export function encode(message: unknown): Buffer {
  return Buffer.from(encoder.encode(message))
}

/** A frame header announcing `length` bytes: a uint32, big-endian. */
export function header(length: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32BE(length)
  return bytes
}

/** A frame: the header, then the payload. */
export function frame(payload: number[] | Uint8Array): Buffer {
  const body = payload instanceof Uint8Array ? payload : Uint8Array.from(payload)
  return Buffer.concat([header(body.byteLength), body])
}

/** A frame carrying `message` encoded with the library's codec. */
export function messageFrame(message: unknown): Buffer {
  return frame(encode(message))
}

/** The hello of a peer without a secret. */
export function helloFrame(options: Record<string, unknown> = { window: 64 }): Buffer {
  return messageFrame([MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, options])
}

/** A raw socket to the socket path `path` (on Windows, the pipe it maps to), destroyed after the test. `closed` resolves when the other side (or we) closed it. */
export interface RawPeer {
  socket: Socket
  closed: Promise<void>
  /** True once `closed` has resolved. */
  isClosed(): boolean
  /** Messages the peer received, decoded (only while `read` is on). */
  messages: unknown[]
  /** Everything the peer received, as raw bytes (only while `read` is on). */
  received(): Buffer
  /** Resolves with the first received message that `match` accepts. */
  receive(match: (message: unknown[]) => boolean, ms?: number): Promise<unknown[]>
}

/**
 * Connects a raw socket. With `read` (the default) incoming frames are decoded into `messages`;
 * without it the socket is left paused and reads nothing.
 */
export function rawConnect(path: string, { read = true } = {}): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(netPath(path))
    onTestFinished(() => {
      socket.destroy()
    })
    let isClosed = false
    const closed = new Promise<void>((done) =>
      socket.once('close', () => {
        isClosed = true
        done()
      }),
    )
    const messages: unknown[] = []
    const chunks: Buffer[] = []
    const wakers = new Set<() => void>()
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      // A server that drops a hostile peer resets the connection: expected here.
      socket.on('error', () => {})
      if (read) {
        const reader = new FrameReader()
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk)
          for (const message of reader.push(chunk)) messages.push(message)
          for (const wake of [...wakers]) wake()
        })
      } else {
        socket.pause()
      }
      resolve({
        socket,
        closed,
        isClosed: () => isClosed,
        messages,
        received: () => Buffer.concat(chunks),
        receive(match, ms = 5000) {
          return new Promise((resolveMessage, rejectMessage) => {
            let seen = 0
            const look = (): void => {
              for (; seen < messages.length; seen++) {
                const message = messages[seen]
                if (Array.isArray(message) && match(message)) {
                  finish()
                  resolveMessage(message)
                  return
                }
              }
            }
            const timer = setTimeout(() => {
              finish()
              rejectMessage(new Error(`no matching message within ${ms} ms; got ${JSON.stringify(messages.map(String))}`))
            }, ms)
            const finish = (): void => {
              clearTimeout(timer)
              wakers.delete(look)
            }
            wakers.add(look)
            look()
          })
        },
      })
    })
  })
}

/** Splits a byte stream into frames and decodes each with the library's codec options. */
export class FrameReader {
  readonly #decoder = new Decoder(CODEC_OPTIONS)
  #buffer: Buffer = Buffer.alloc(0)

  /** Frames completed by `chunk`, raw. */
  pushRaw(chunk: Buffer): Buffer[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    const frames: Buffer[] = []
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readUInt32BE(0)
      if (this.#buffer.length < 4 + length) break
      frames.push(this.#buffer.subarray(0, 4 + length))
      this.#buffer = this.#buffer.subarray(4 + length)
    }
    return frames
  }

  /** Messages completed by `chunk`, decoded. */
  push(chunk: Buffer): unknown[] {
    return this.pushRaw(chunk).map((raw) => this.#decoder.decode(raw.subarray(4)))
  }
}
