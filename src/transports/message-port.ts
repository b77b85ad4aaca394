/**
 * Channels over message ports: worker_threads (`MessagePort`, `Worker`, `parentPort`), the DOM
 * (`MessagePort`, `Worker`, a worker's `self`) and Electron's `MessagePortMain`. Part of the browser
 * build: nothing here may import from `node:`.
 */
import { Channel } from '../core/channel.js'
import { ChannelClosedError, ProtocolError } from '../core/errors.js'
import { checkPort, openLink, type LinkOptions } from '../core/link.js'
import { frameSizeOf } from '../core/options.js'
import type { Transport, TransportSink } from '../core/transport.js'
import { joinPayload, type Payload } from '../protocol/framing.js'

/* eslint-disable @typescript-eslint/no-explicit-any -- the port shapes below must accept Node's, the DOM's and Electron's typings */

/**
 * A port with Node's EventEmitter interface: worker_threads `MessagePort`, `Worker` and `parentPort`
 * (the listener receives the value), Electron's `MessagePortMain` (the listener receives `{ data, ports }`).
 */
export interface EmitterPort {
  postMessage(message: any, transfer?: any): void
  on(event: string, listener: (...args: any[]) => void): unknown
  off?(event: string, listener: (...args: any[]) => void): unknown
  removeListener?(event: string, listener: (...args: any[]) => void): unknown
  start?(): void
  close?(): void
}

/** A port with the DOM's EventTarget interface: `MessagePort`, `Worker`, a worker's global scope. */
export interface EventTargetPort {
  postMessage(message: any, transfer?: any): void
  addEventListener(type: string, listener: (event: any) => void): void
  removeEventListener(type: string, listener: (event: any) => void): void
  start?(): void
  close?(): void
}

/** Anything {@link fromMessagePort} can carry a channel over. */
export type MessagePortLike = EmitterPort | EventTargetPort

/* eslint-enable @typescript-eslint/no-explicit-any */

/** Options of {@link fromMessagePort}. */
export interface MessagePortOptions extends LinkOptions {
  /**
   * Transfer each payload's ArrayBuffer instead of having it cloned. Off for Electron's
   * `MessagePortMain` (it transfers only ports), on for everything else.
   * @default true, false for a port shaped like MessagePortMain
   */
  transfer?: boolean
}

/** The worker_threads `Worker` 'exit' event gives the exit code; the channel reports it. */
interface ExitInfo {
  exitCode: number
}

/**
 * Carries whole payloads as messages, without length prefix. Each payload travels in an ArrayBuffer of
 * its own: one the payload owns is transferred as it is; a view of a larger buffer (the codec's) is
 * copied first, since a structured clone would copy the whole buffer behind it.
 */
export class MessagePortTransport implements Transport {
  readonly #port: MessagePortLike
  readonly #transfer: boolean
  readonly #maxFrameSize: number
  readonly #listeners: [event: string, listener: (value: unknown) => void][] = []
  #sink: TransportSink | undefined
  #ended = false

  constructor(port: MessagePortLike, options: { transfer?: boolean; maxFrameSize?: number } = {}) {
    this.#port = port
    this.#transfer = options.transfer ?? !isMessagePortMain(port)
    this.#maxFrameSize = frameSizeOf(options)
  }

  start(sink: TransportSink): void {
    this.#sink = sink
    this.#listen('message', (value) => {
      if (this.#ended) return
      // worker_threads hands over the value itself; the DOM and Electron an event that carries it.
      // Anything else on the port (a Worker may carry other traffic) is not ours and is left alone.
      const data = value instanceof Uint8Array ? value : (value as { data?: unknown } | null | undefined)?.data
      if (!(data instanceof Uint8Array)) return
      if (data.byteLength > this.#maxFrameSize) {
        this.destroy(new ProtocolError(`a frame of ${data.byteLength} bytes exceeds maxFrameSize (${this.#maxFrameSize})`))
        return
      }
      sink.message(data)
    })
    this.#listen('messageerror', () => this.destroy(new ProtocolError('a message could not be deserialized')))
    // worker_threads ports and Electron's MessagePortMain say when the other end is gone; so do some
    // browsers. Elsewhere the goodbye, or the heartbeat, tells.
    this.#listen('close', () => this.#finish())
    // A worker_threads Worker that exits, crashing or not; an uncaught exception in it comes first.
    let crash: unknown
    this.#listen('error', (error) => (crash = error))
    this.#listen('exit', (code) => {
      const why = crash instanceof Error ? ` after an uncaught ${crash.name}: ${crash.message}` : ''
      const error = new ChannelClosedError(`the worker exited with code ${String(code)}${why}`, crash === undefined ? undefined : { cause: crash })
      ;(error as ChannelClosedError & ExitInfo).exitCode = code as number
      this.#finish(error)
    })
    // DOM and Electron ports queue messages until started; worker_threads starts on the first listener.
    this.#port.start?.()
  }

  send(chunks: Payload): boolean {
    if (this.#ended) return false
    // A port carries one buffer per message: chunks are joined, which also makes a buffer of our own.
    const payload = joinPayload(chunks)
    const owned =
      payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength && payload.buffer instanceof ArrayBuffer
        ? payload
        : new Uint8Array(payload)
    if (this.#transfer) this.#port.postMessage(owned, [owned.buffer])
    else this.#port.postMessage(owned)
    return true
  }

  /** Messages already posted are still delivered: the port queues them before it closes. */
  close(): void {
    this.#finish()
  }

  destroy(error?: Error): void {
    this.#finish(error)
  }

  #listen(event: string, listener: (value: unknown) => void): void {
    const port = this.#port
    if (isEmitter(port)) port.on(event, listener)
    else port.addEventListener(event, listener)
    this.#listeners.push([event, listener])
  }

  #finish(error?: Error): void {
    if (this.#ended) return
    this.#ended = true
    const port = this.#port
    // Without its listeners, a worker_threads port no longer keeps the event loop alive.
    for (const [event, listener] of this.#listeners) {
      if (isEmitter(port)) (port.off ?? port.removeListener)?.call(port, event, listener)
      else port.removeEventListener(event, listener)
    }
    this.#listeners.length = 0
    // Only a real port is closed: a Worker has no close(), and a worker's global scope has one that
    // would end the worker; neither has start().
    if (typeof port.start === 'function' && typeof port.close === 'function') port.close()
    this.#sink?.closed(error)
  }
}

function isEmitter(port: MessagePortLike): port is EmitterPort {
  return typeof (port as EmitterPort).on === 'function'
}

/** Electron's MessagePortMain: an EventEmitter with start() but without the DOM's addEventListener. */
function isMessagePortMain(port: MessagePortLike): boolean {
  return isEmitter(port) && typeof port.start === 'function' && typeof (port as Partial<EventTargetPort>).addEventListener !== 'function'
}

/**
 * Makes a Channel over a message port: a worker_threads `MessagePort`, `Worker` or `parentPort`, a
 * DOM `MessagePort`, `Worker` or a worker's `self`, or Electron's `MessagePortMain`. Calls made before
 * the handshake completes are queued. A failed handshake (a wrong secret) is emitted as `error` and
 * rejects what was queued. `close()` says goodbye to the peer, then closes the port.
 * @throws TypeError for anything but a port, such as a MessageChannel (pass its `port1`).
 */
export function fromMessagePort(port: MessagePortLike, options: MessagePortOptions = {}): Channel {
  checkPort(port)
  const { role = 'auto', transfer, ...channelOptions } = options
  const channel = new Channel(channelOptions)
  const transport = new MessagePortTransport(port, { transfer, maxFrameSize: channelOptions.maxFrameSize })
  return openLink(channel, transport, role)
}
