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
import { isWhole, payloadLength, type Payload } from '../protocol/framing.js'
import { BATCH_FEATURE, clearPosted, KEPT_MAX, pack, postedCopy, single, unpack, type Post } from './port-batch.js'

/* eslint-disable @typescript-eslint/no-explicit-any -- the port shapes below must accept Node's, the DOM's and Electron's typings */

/**
 * A port with Node's EventEmitter interface: worker_threads `MessagePort`, `Worker` and `parentPort`
 * (the listener receives the value), Electron's `MessagePortMain` (the listener receives `{ data, ports }`).
 */
export interface EmitterPort {
  /** Sends a message (and, where the port supports it, transfers the listed objects). */
  postMessage(message: any, transfer?: any): void
  /** Adds a `message`, `messageerror` or `close` listener. */
  on(event: string, listener: (...args: any[]) => void): unknown
  /** Removes a listener (worker_threads, Electron). */
  off?(event: string, listener: (...args: any[]) => void): unknown
  /** Removes a listener (older EventEmitters). */
  removeListener?(event: string, listener: (...args: any[]) => void): unknown
  /** Starts delivery (Electron's MessagePortMain queues messages until then). */
  start?(): void
  /** Closes the port; the channel calls it when it closes. */
  close?(): void
}

/** A port with the DOM's EventTarget interface: `MessagePort`, `Worker`, a worker's global scope. */
export interface EventTargetPort {
  /** Sends a message, transferring the listed objects. */
  postMessage(message: any, transfer?: any): void
  /** Adds a `message` or `messageerror` listener. */
  addEventListener(type: string, listener: (event: any) => void): void
  /** Removes a listener. */
  removeEventListener(type: string, listener: (event: any) => void): void
  /** Starts delivery (a MessagePort listened to with addEventListener needs it). */
  start?(): void
  /** Closes the port; the channel calls it when it closes. */
  close?(): void
}

/** Anything {@link fromMessagePort} can carry a channel over. */
export type MessagePortLike = EmitterPort | EventTargetPort

/* eslint-enable @typescript-eslint/no-explicit-any */

/** Options of {@link fromMessagePort}. */
export interface MessagePortOptions extends LinkOptions {
  /**
   * Whether the port can transfer ArrayBuffers. When it can, the transport transfers the buffers it
   * fills where that costs less than a clone, and the buffers listed with `transfer()`; when it
   * cannot, everything is cloned and `transfer()` changes nothing. Off for Electron's
   * `MessagePortMain` (it transfers only ports), on for everything else.
   * @default true, false for a port shaped like MessagePortMain
   */
  transfer?: boolean
}

/**
 * A batch is posted before the end of the tick once it holds this many payloads or bytes (see send).
 * Chosen by measurement (64 calls in flight, bench/README): of 16, 24, 32, 48 and 64 payloads, and of
 * 1, 2, 4, 8 and 16 KiB, these gave the most calls a second, with 32-byte arguments and with records.
 */
export const BATCH_POST_PAYLOADS = 32
export const BATCH_POST_BYTES = 8192

/** The worker_threads `Worker` 'exit' event gives the exit code; the channel reports it. */
interface ExitInfo {
  exitCode: number
}

/**
 * Carries whole payloads as messages, without length prefix. Until the peer is known to support
 * batches (PROTOCOL.md section 2.2), each payload is posted alone, as soon as it is sent; after, the
 * payloads of one tick leave together, in one post, or in several when they fill more than one. Either
 * way every buffer posted is one the transport filled: a clone copies the whole buffer behind a view,
 * and the codec's is shared.
 */
export class MessagePortTransport implements Transport {
  readonly features = [BATCH_FEATURE]
  readonly #port: MessagePortLike
  readonly #transfer: boolean
  readonly #maxFrameSize: number
  readonly #listeners: [event: string, listener: (value: unknown) => void][] = []
  #sink: TransportSink | undefined
  #ended = false
  /** Both sides announced batches: payloads wait for the end of the tick. */
  #batching = false
  /**
   * The port is the platform's own MessagePort, which clones what it posts before postMessage returns,
   * so small payloads can go from kept buffers (postedCopy). A wrapper might keep or transfer them.
   */
  readonly #reuse: boolean
  /**
   * The payloads waiting for the end of the tick: `#lone` while there is one (a call at a time, the
   * usual case, needs no array), `#queue` from the second on.
   */
  #lone: Payload | undefined
  #queue: Payload[] | undefined
  /** Bytes of the payloads waiting. */
  #queued = 0
  /**
   * A message from the port is being handled: what it makes this side send (the answers to the calls
   * it carried) leaves when it has been handled, without a microtask of its own.
   */
  #dispatching = false
  /** Posting what was waiting: a port that hands a post straight back to this side dispatches now. */
  #flushing = false
  readonly #flush = (): void => {
    const lone = this.#lone
    const queue = this.#queue
    if (lone === undefined && queue === undefined) return
    this.#lone = this.#queue = undefined
    this.#queued = 0
    if (this.#ended) return
    this.#flushing = true
    try {
      // One call at a time, the usual case when waiting on each: a plain Uint8Array, without packing.
      if (lone !== undefined && isWhole(lone)) this.#postOne(lone)
      else for (const post of pack(queue ?? [lone as Payload], this.#transfer)) this.#post(post)
    } catch (error) {
      // A buffer detached since it was encoded (sent twice with transfer(), or transferred elsewhere)
      // cannot be posted: what was queued is lost, so the connection cannot go on.
      this.destroy(error instanceof Error ? error : new Error(String(error)))
    } finally {
      this.#flushing = false
    }
  }

  constructor(port: MessagePortLike, options: { transfer?: boolean; maxFrameSize?: number } = {}) {
    this.#port = port
    this.#reuse = isNativePort(port)
    this.#transfer = options.transfer ?? !isMessagePortMain(port)
    this.#maxFrameSize = frameSizeOf(options)
  }

  start(sink: TransportSink): void {
    this.#sink = sink
    this.#listen('message', (value) => {
      if (this.#ended) return
      const outer = this.#dispatching
      this.#dispatching = true
      try {
        this.#receive(sink, value)
      } finally {
        this.#dispatching = outer
        // Within a flush (a port that posts synchronously to this side), after its posts: in order.
        if (!outer) {
          if (this.#flushing) void resolved.then(this.#flush)
          else this.#flush()
        }
      }
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

  #receive(sink: TransportSink, value: unknown): void {
    // worker_threads hands over the value itself; the DOM and Electron an event that carries it.
    // Anything else on the port (a Worker may carry other traffic) is not ours and is left alone:
    // data that is not a Uint8Array, or an Array before batches are agreed on.
    const data = value instanceof Uint8Array || Array.isArray(value) ? value : (value as { data?: unknown } | null | undefined)?.data
    if (data instanceof Uint8Array) {
      if (data.length > this.#maxFrameSize) {
        this.destroy(new ProtocolError(`a frame of ${data.length} bytes exceeds maxFrameSize (${this.#maxFrameSize})`))
        return
      }
      sink.message(data)
    } else if (this.#batching && Array.isArray(data)) {
      const payloads = unpack(data, this.#maxFrameSize)
      if (typeof payloads === 'string') {
        this.destroy(new ProtocolError(`malformed port message: ${payloads}`))
        return
      }
      // The channel may end on any of them (a goodbye, a protocol error): nothing after counts.
      for (let i = 0; i < payloads.length && !this.#ended; i++) sink.message(payloads[i])
    }
  }

  negotiated(features: ReadonlySet<string>): void {
    this.#batching = features.has(BATCH_FEATURE)
  }

  send(payload: Payload): boolean {
    if (this.#ended) return false
    if (!this.#batching) {
      if (isWhole(payload)) this.#postOne(payload)
      else this.#post(single(payload, this.#transfer))
      return true
    }
    // Posted at the end of the tick, with whatever else the code running now produces: the answers to
    // a batch of calls, the calls of a loop. That is when the message being handled has been, or else
    // in a microtask: a promise reaction, not queueMicrotask, whose Node version makes an AsyncResource
    // per call, which cost more than the rest of a send (process.nextTick too).
    let queued = 1
    if (this.#queue !== undefined) queued = this.#queue.push(payload)
    else if (this.#lone !== undefined) {
      this.#queue = [this.#lone, payload]
      this.#lone = undefined
      queued = 2
    } else {
      this.#lone = payload
      if (!this.#dispatching) void resolved.then(this.#flush)
    }
    // A full batch leaves now, so that the peer works on it while this side makes the rest: waiting
    // for the end of the tick would have each side idle while the other works.
    if ((this.#queued += payloadLength(payload)) >= BATCH_POST_BYTES || queued >= BATCH_POST_PAYLOADS) this.#flush()
    return true
  }

  /**
   * A whole payload alone: on the platform's own port, a small one from the buffer kept for its size,
   * posted at once and then cleared, so that no message (a handshake proof) stays in memory after it.
   */
  #postOne(payload: Uint8Array): void {
    if (!this.#reuse || payload.length > KEPT_MAX) {
      this.#post(single(payload, this.#transfer))
      return
    }
    const bytes = postedCopy(payload)
    try {
      this.#port.postMessage(bytes)
    } finally {
      clearPosted(bytes)
    }
  }

  #post({ data, transfer }: Post): void {
    if (transfer.length === 0) this.#port.postMessage(data)
    else this.#port.postMessage(data, transfer)
  }

  /** Messages already posted are still delivered: the port queues them before it closes. */
  close(): void {
    this.#flush()
    this.#finish()
  }

  destroy(error?: Error): void {
    // Payloads of this tick (a handshake proof before an authentication failure) still leave.
    if (!this.#ended) this.#flush()
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

const resolved = Promise.resolve()

function isEmitter(port: MessagePortLike): port is EmitterPort {
  return typeof (port as EmitterPort).on === 'function'
}

/** worker_threads' MessagePort (`parentPort` too) or the DOM's: the platform's own, not a wrapper. */
function isNativePort(port: MessagePortLike): boolean {
  const Native = (globalThis as { MessagePort?: abstract new (...args: never[]) => unknown }).MessagePort
  return typeof Native === 'function' && port instanceof Native
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
 *
 * With a peer that supports it (this version), the messages produced in one tick leave in one post
 * (a post that reaches 32 messages or 8 KiB leaves at once, so that the peer starts on it), and the
 * buffers listed with `transfer()` are transferred rather than copied (detached on the sending side).
 * Other traffic on the same port is left alone as long as it is neither a Uint8Array nor, with such a
 * peer, an Array.
 * @throws TypeError for anything but a port, such as a MessageChannel (pass its `port1`), and for an
 *   option that is wrong (RangeError for a number out of its range), as `new Channel(options)` does.
 */
export function fromMessagePort(port: MessagePortLike, options: MessagePortOptions = {}): Channel {
  checkPort(port)
  const { role = 'auto', transfer, ...channelOptions } = options
  const channel = new Channel(channelOptions)
  const transport = new MessagePortTransport(port, { transfer, maxFrameSize: channelOptions.maxFrameSize })
  return openLink(channel, transport, role)
}
