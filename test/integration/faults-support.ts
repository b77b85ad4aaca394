/**
 * Shared pieces of the fault tests (faults*.test.ts): the faults-server fixture with its mailbox, raw
 * sockets that speak (or break) the wire protocol by hand, and a seeded random generator.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { Decoder, Encoder } from 'cbor-x'
import { onTestFinished } from 'vitest'
import { CODEC_OPTIONS } from '../../dist/protocol/codec.js'
import { MAGIC, MessageType, PROTOCOL_VERSION } from '../../dist/protocol/messages.js'
import { mailbox, type Mailbox, type Report } from '../helpers/mailbox.js'
import { spawnFixture, tempSocket, type Fixture, within } from '../helpers/processes.js'
import { mulberry32 } from '../helpers/random.js'

export { mailbox, type Mailbox, type Report }

/** Options of test/fixtures/faults-server.mjs. */
export interface FaultServerOptions {
  secret?: string
  maxFrameSize?: number
  maxHandshakeBytes?: number
  handshakeTimeout?: number
  heartbeat?: false | { interval?: number; timeout?: number }
  maxConcurrentCalls?: number
  maxWaitingCalls?: number
  maxBufferedBytes?: number
  callOnConnect?: string
}

export interface Memory {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

export interface ServerStats {
  counted: number
  held: number
  parked: number
  maxActive: number
  starts: number[]
  connections: number
  callOnConnect: { resolved: number; rejected: number }
  errors: Record<string, number>
  unexpected: { where: string; name: string; message: string; stack?: string }[]
}

export interface StatsReport extends Report {
  stats: ServerStats
  pollution: string[]
  memory: Memory
}

export interface FaultServer {
  fixture: Fixture
  mail: Mailbox
  path: string
  pid: number
  stats(): Promise<StatsReport>
}

/** Spawns test/fixtures/faults-server.mjs on `path` (a fresh one by default) and waits until it listens. */
export async function startFaultServer(
  options: FaultServerOptions = {},
  path = tempSocket(),
  env: NodeJS.ProcessEnv = {},
): Promise<FaultServer> {
  const fixture = spawnFixture('faults-server.mjs', [path, JSON.stringify(options)], env)
  const mail = mailbox(fixture)
  const listening = await mail.take(['listening', 'listen-failed'], 15_000)
  if (listening.type !== 'listening') throw new Error(`faults-server did not listen: ${JSON.stringify(listening)}`)
  return {
    fixture,
    mail,
    path,
    pid: listening.pid as number,
    stats: () => mail.ask<StatsReport>({ cmd: 'stats' }, 'stats'),
  }
}

export { within }

/** Sends a signal to a process that may have exited already. */
export function signal(pid: number | undefined, name: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(pid, name)
  } catch {
    // Already gone.
  }
}

// -------------------------------------------------------------------------------------------------
// The wire, by hand

const encoder = new Encoder(CODEC_OPTIONS)

export { MessageType, MAGIC, PROTOCOL_VERSION }

/** Encodes one message with the library's own codec options. */
export function encode(message: unknown): Buffer {
  return Buffer.from(encoder.encode(message))
}

/** A frame: the uint32 big-endian length, then the payload. */
export function frame(payload: Uint8Array): Buffer {
  const header = Buffer.alloc(4)
  header.writeUInt32BE(payload.byteLength)
  return Buffer.concat([header, payload])
}

/** A frame carrying `message` encoded with the library's codec. */
export function messageFrame(message: unknown): Buffer {
  return frame(encode(message))
}

/** The hello of a peer without a secret. */
export function helloFrame(options: Record<string, unknown> = { window: 64 }): Buffer {
  return messageFrame([MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, options])
}

/** A raw socket to `path`, destroyed after the test. `closed` resolves when the other side (or we) closed it. */
export interface RawPeer {
  socket: Socket
  closed: Promise<void>
  /** True once `closed` has resolved. */
  isClosed(): boolean
  /** Messages the peer received, decoded (only while `read` is on). */
  messages: unknown[]
  /** Resolves with the first received message that `match` accepts. */
  receive(match: (message: unknown[]) => boolean, ms?: number): Promise<unknown[]>
}

/**
 * Connects a raw socket. With `read` (the default) incoming frames are decoded into `messages`;
 * without it the socket is left paused and reads nothing.
 */
export function rawConnect(path: string, { read = true } = {}): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(path)
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
    const wakers = new Set<() => void>()
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      // A server that drops a hostile peer resets the connection: expected here.
      socket.on('error', () => {})
      if (read) {
        const reader = new FrameReader()
        socket.on('data', (chunk: Buffer) => {
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

// -------------------------------------------------------------------------------------------------
// Randomness

export { mulberry32 }

/** Helpers over a PRNG. */
export class Random {
  readonly next: () => number

  constructor(seed: number) {
    this.next = mulberry32(seed)
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n)
    for (let i = 0; i < n; i++) out[i] = this.int(256)
    return out
  }

  chance(p: number): boolean {
    return this.next() < p
  }
}
