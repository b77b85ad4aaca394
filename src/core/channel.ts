import { EventEmitter } from 'eventemitter3'
import pDefer, { type DeferredPromise } from 'p-defer'
import { Codec } from '../protocol/codec.js'
import { errorClassMap, fromEnvelope, toEnvelope, withoutStacks, type ErrorClass } from '../protocol/fault.js'
import { payloadLength, type Payload } from '../protocol/framing.js'
import { isHandshakeMessage, MessageType, type ErrorEnvelope, type HelloOptions, type Message } from '../protocol/messages.js'
import { BufferFullError, ChannelClosedError, MethodNotFoundError, ProtocolError, SerializationError, TimeoutError } from './errors.js'
import { Handshake, secretBytes, type PeerInfo, type Role } from './handshake.js'
import { InProgress } from './in-progress.js'
import { Registry, type CallContext, type ExposeOptions, type Handler, type Registration } from './registry.js'
import type { Transport, TransportSink } from './transport.js'

/** Options shared by every kind of channel, server and client. */
export interface ChannelOptions {
  /**
   * Shared secret. When set, both sides prove knowledge of it (HMAC-SHA256 challenge-response) before
   * anything else is accepted; a side with a secret refuses a peer without one and vice versa.
   */
  secret?: string | Uint8Array
  /**
   * Largest frame accepted, in bytes, checked from the length prefix before anything is allocated.
   * @default 67108864 (64 MiB)
   */
  maxFrameSize?: number
  /**
   * Milliseconds the opening handshake (hello and auth) may take before the connection is dropped.
   * @default 10000
   */
  handshakeTimeout?: number
  /**
   * Default deadline, in milliseconds, applied to every outgoing call; `InProgress.timeout()` overrides
   * it per call. Off by default: a call may legitimately take a day.
   * @default undefined
   */
  callTimeout?: number
  /** Error classes to rebuild as themselves when the peer throws them (matched by class name). */
  errors?: readonly ErrorClass[]
  /**
   * Items a peer's stream may send to this side before this side grants more credit.
   * @default 64
   */
  streamWindow?: number
  /**
   * Liveness check. Every `interval` ms each side pings; when nothing at all has arrived from the peer
   * for `timeout` ms (a hung or stopped process), the channel closes and pending calls reject.
   * `false` turns it off. A handler may run for any time: pings are answered by the receiving loop,
   * which only a process blocked in synchronous code for longer than `timeout` cannot run.
   * @default { interval: 5000, timeout: 15000 }
   */
  heartbeat?: false | { interval?: number; timeout?: number }
  /**
   * Bytes an unauthenticated peer may send before the handshake completes.
   * @default 65536
   */
  maxHandshakeBytes?: number
  /**
   * Incoming calls whose handlers may run at once on this channel; further calls wait, in order.
   * @default 1024
   */
  maxConcurrentCalls?: number
  /**
   * Incoming calls that may wait for a handler slot (see maxConcurrentCalls); a call beyond that is
   * answered at once with BufferFullError, so a peer cannot make this side hold unbounded arguments.
   * @default 1024
   */
  maxWaitingCalls?: number
  /**
   * Bytes of outgoing frames this side holds while the peer does not read (or before the connection is
   * up). A call or notification that would exceed it fails with BufferFullError instead of growing
   * memory without bound.
   * @default 67108864 (64 MiB)
   */
  maxBufferedBytes?: number
  /**
   * Calls and notifications held while not connected (before the handshake, or while a client
   * reconnects); more reject with ChannelClosedError.
   * @default 1024
   */
  maxQueuedCalls?: number
}

/** Per-call options of {@link Channel.call}. */
export interface CallOptions {
  /** Aborting this signal aborts the call, as `InProgress.abort(signal.reason)` does. */
  signal?: AbortSignal
  /** Deadline in milliseconds, as `InProgress.timeout(ms)`; overrides the channel's `callTimeout`. */
  timeout?: number
}

/** Default for {@link ChannelOptions.maxFrameSize}. */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000
const DEFAULT_STREAM_WINDOW = 64
const DEFAULT_HANDSHAKE_BYTES = 64 * 1024
const DEFAULT_HEARTBEAT = { interval: 5000, timeout: 15_000 }
const DEFAULT_MAX_CONCURRENT_CALLS = 1024
const DEFAULT_MAX_WAITING_CALLS = 1024
const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024
const DEFAULT_MAX_QUEUED_CALLS = 1024

/** Outbox entry kinds besides a call id: frames that survive a reconnect and frames that do not. */
const OUTBOX_NOTIFY = 0
const OUTBOX_CONNECTION = -1

/** Events of every channel. */
export interface ChannelEvents {
  /** The handshake (and authentication) succeeded; calls flow. */
  connect: () => void
  /** The connection ended. `reason` is set when it did not end by a close() of either side. */
  disconnect: (reason?: Error) => void
  /** A failure that no call could receive: a protocol error, a notification handler that threw. */
  error: (error: Error) => void
  /**
   * Emitted by a reconnecting {@link Client} only: a new attempt is scheduled after `delay` ms;
   * `attempt` counts from 1 since the last success.
   */
  reconnecting: (info: { attempt: number; delay: number }) => void
}

/**
 * Maps an interface of remote functions to what calling them returns: each method returns an
 * InProgress of its awaited result; async generators become streams that can be iterated or awaited
 * as an array. A leading CallContext parameter (handlers exposed with `{ context: true }`) is dropped.
 */
export type Remote<T> = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [K in keyof T as NonNullable<T[K]> extends (...args: any[]) => unknown ? K : never]-?: NonNullable<T[K]> extends (
    ...args: infer A
  ) => infer R
    ? (...args: A extends [CallContext, ...infer Rest] ? Rest : A) => RemoteReturn<R>
    : never
}

/** What a call to a function returning `R` gives the caller. */
export type RemoteReturn<R> =
  R extends AsyncIterable<infer Item> ? InProgress<Item[], Item> : InProgress<Awaited<R>, Awaited<R>>

/** An incoming call whose handler has not finished yet. */
interface RunningCall {
  controller: AbortController | undefined
  abortReason: unknown
  cancelled: boolean
  /** Stream credit: items this side may still send. */
  credit: number
  /** Wakes a stream pump waiting for credit or cancellation. */
  resume: (() => void) | undefined
  iterator: AsyncIterator<unknown> | undefined
}

type ChannelState = 'idle' | 'handshaking' | 'open' | 'closing' | 'closed'

const noop = (): void => {}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  )
}

/** The message type of an encoded message, read from its first two bytes without decoding; -1 if unclear. */
function peekType(payload: Uint8Array): number {
  const head = payload[0]
  // A definite-length array of 1 to 23 elements, whose first element is a small unsigned integer.
  if (head === undefined || head < 0x81 || head > 0x97) return -1
  const type = payload[1]
  return type !== undefined && type <= 0x17 ? type : -1
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0
}

class Context implements CallContext {
  readonly channel: Channel
  readonly #running: RunningCall
  readonly #send: (value: unknown) => void

  constructor(channel: Channel, running: RunningCall, send: (value: unknown) => void) {
    this.channel = channel
    this.#running = running
    this.#send = send
  }

  get signal(): AbortSignal {
    const running = this.#running
    if (!running.controller) {
      // Made on first use: handlers that never look at the signal cost no AbortController.
      running.controller = new AbortController()
      if (running.cancelled) running.controller.abort(running.abortReason)
    }
    return running.controller.signal
  }

  /** An own property rather than a method, so that `const { progress } = ctx` works too. */
  readonly progress = (value: unknown): void => {
    this.#send(value)
  }
}

/**
 * One end of a connection: call the peer's functions with `rpc` and `notify`, expose functions for the
 * peer to call. Made by `Server` (one per connection), `Client` (which is a Channel), `fromStream` and
 * `fromMessagePort`.
 */
export class Channel extends EventEmitter<ChannelEvents> {
  readonly #options: ChannelOptions
  readonly #codec = new Codec()
  readonly #registry = new Registry()
  readonly #errorClasses: ReadonlyMap<string, ErrorClass> | undefined
  readonly #secret: Uint8Array | undefined
  #shared: Registry | undefined
  #state: ChannelState = 'idle'
  #transport: Transport | undefined
  #nextId = 1
  readonly #pending = new Map<number, InProgress<unknown, unknown>>()
  readonly #running = new Map<number, RunningCall>()
  /** Frames waiting for the handshake to complete or for the transport to drain, in order. */
  #outbox: Payload[] = []
  /** Per outbox frame: its call id, OUTBOX_NOTIFY, or OUTBOX_CONNECTION for frames tied to one connection. */
  #outboxKinds: number[] = []
  #outboxBytes = 0
  /** The transport refused more (send returned false): frames wait in the outbox until it drains. */
  #congested = false
  /** Reading is paused: too many answers wait to be written. */
  #readingPaused = false
  /** Incoming calls waiting for a free handler slot (maxConcurrentCalls). */
  #waiting: [id: number, name: string, args: unknown[]][] = []
  #startingWaiting = false
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined
  #receivedSinceTick = false
  #lastAlive = 0
  #handshake: Handshake | undefined
  #handshakeInbox: Uint8Array[] = []
  #handshakeBytes = 0
  #handshakeBusy = false
  /** The peer's last handshake frame (its auth, or its hello without a secret) has arrived. */
  #peerHandshakeSent = false
  /** Largest payload the peer accepts, from its hello. */
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE
  /** Call ids have wrapped around: a new id must skip ones still pending. */
  #idsWrapped = false
  /**
   * Frames that arrived behind the peer's last handshake frame, and any after them, held until the
   * code awaiting the connection (`await connect()`, then `expose(...)`) has run.
   */
  #backlog: Uint8Array[] | undefined
  /** A transport that closed while the handshake was awaiting crypto: handled once that step is done. */
  #closedDuringHandshake: { transport: Transport; error: Error | undefined } | undefined
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined
  #handshakeDone: { resolve: () => void; reject: (error: Error) => void } | undefined
  /** Settles with the current (or last) handshake; see ready(). */
  #handshakeResult: Promise<void> | undefined
  /** ready() asked before any transport was attached. */
  #unattachedReady: DeferredPromise<void> | undefined
  #peerWindow = DEFAULT_STREAM_WINDOW
  /**
   * Why the current transport is ending, as decided by this side: `report` is set for failures this
   * side detected (protocol, handshake), which are also emitted as `error`.
   */
  #closeReason: { error: Error | undefined; report: boolean } | undefined
  /** The current transport completed its handshake. */
  #opened = false
  #closed: Promise<void> | undefined
  #resolveClosed: (() => void) | undefined
  #remote: unknown

  /** @internal */
  readonly streamWindow: number

  constructor(options: ChannelOptions = {}) {
    super()
    this.#options = options
    this.#secret = secretBytes(options.secret)
    this.#errorClasses = errorClassMap(options.errors)
    this.streamWindow = options.streamWindow ?? DEFAULT_STREAM_WINDOW
    if (!(this.streamWindow >= 1)) throw new RangeError('streamWindow must be at least 1')
  }

  /** True while the handshake has completed and the connection is up. */
  get connected(): boolean {
    return this.#state === 'open'
  }

  /**
   * Settles with the handshake of the current connection: resolves once it succeeded (at once when
   * connected), rejects with the AuthenticationError, ProtocolError, TimeoutError or ChannelClosedError
   * that ended it. A Client refines this with its connection attempts.
   */
  ready(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve()
    if (this.#state === 'closing' || this.#state === 'closed') {
      return this.#handshakeResult ?? Promise.reject(new ChannelClosedError('the channel is closed'))
    }
    if (this.#handshakeResult) return this.#handshakeResult
    // Not attached yet: settles with the first handshake, or when the channel ends without one.
    if (!this.#unattachedReady) {
      this.#unattachedReady = pDefer<void>()
      this.#unattachedReady.promise.catch(noop)
    }
    return this.#unattachedReady.promise
  }

  /** The options this channel was made with. */
  get options(): Readonly<ChannelOptions> {
    return this.#options
  }

  /**
   * Calls `name` on the peer with `args`. Arguments and the result may be any value CBOR carries:
   * primitives, BigInt, arrays, plain objects, Map, Set, Date, Uint8Array and Buffer.
   * Calls made before the handshake completes are queued and sent after it.
   * @returns an InProgress that resolves with the result or rejects with the remote exception,
   *   a SerializationError when an argument cannot be encoded, or a ChannelClosedError.
   */
  rpc<T = unknown, Item = unknown>(name: string, ...args: unknown[]): InProgress<T, Item> {
    return this.call<T, Item>(name, args)
  }

  /**
   * Calls `name` on the peer with an argument array and per-call options: an AbortSignal to cancel
   * it and a deadline. `call('add', [1, 2], { signal, timeout: 1000 })` is `rpc('add', 1, 2)` with both.
   * A signal that is already aborted rejects the call at once without sending it.
   */
  call<T = unknown, Item = unknown>(name: string, args: readonly unknown[], options?: CallOptions): InProgress<T, Item> {
    const signal = options?.signal
    if (signal?.aborted) {
      const call = new InProgress<T, Item>(undefined, 0, name)
      call.abort(signal.reason)
      return call
    }
    const id = this.#nextCallId()
    const call = new InProgress<T, Item>(this, id, name)
    if (this.#state === 'closing' || this.#state === 'closed') {
      call.reject(new ChannelClosedError(`cannot call ${JSON.stringify(name)}: the channel is closed`))
      return call
    }
    let payload: Payload
    try {
      payload = this.#codec.encodeData([MessageType.Call, id, name, args as unknown[]], 3)
    } catch (error) {
      call.reject(error)
      return call
    }
    const refused = this.#tooLarge(payload) ?? this.#admit(payload)
    if (refused) {
      call.reject(refused)
      return call
    }
    this.#pending.set(id, call as InProgress<unknown, unknown>)
    this.#send(payload, id)
    const timeout = options?.timeout ?? this.#options.callTimeout
    if (timeout !== undefined) call.timeout(timeout)
    if (signal) {
      const onAbort = (): void => call.abort(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      call.onSettled = () => signal.removeEventListener('abort', onAbort)
    }
    return call
  }

  /**
   * Calls `name` on the peer without waiting for, or receiving, any answer. A handler that throws is
   * reported to the peer's `error` event, never to this side.
   * @throws SerializationError when an argument cannot be encoded.
   * @throws ChannelClosedError after the channel was closed, or when too many are queued while not connected.
   * @throws BufferFullError when the peer does not read and `maxBufferedBytes` is reached.
   */
  notify(name: string, ...args: unknown[]): void {
    if (this.#state === 'closing' || this.#state === 'closed') {
      throw new ChannelClosedError(`cannot notify ${JSON.stringify(name)}: the channel is closed`)
    }
    const payload = this.#codec.encodeData([MessageType.Notify, name, args], 2)
    const refused = this.#tooLarge(payload) ?? this.#admit(payload)
    if (refused) throw refused
    this.#send(payload, OUTBOX_NOTIFY)
  }

  /**
   * Makes functions callable by the peer:
   * - `expose(fn, options?)` under `fn.name`;
   * - `expose(name, fn, options?)`;
   * - `expose(plainObject, options?)`: its own function properties, called with the object as `this`;
   * - `expose(classInstance, options?)`: the methods its class marked with `@expose()`.
   * Exposing a name again replaces it.
   * @throws TypeError for an anonymous function, or a class instance with no `@expose()` methods.
   */
  expose(fn: Handler, options?: ExposeOptions): this
  expose(name: string, fn: Handler, options?: ExposeOptions): this
  expose(object: object, options?: ExposeOptions): this
  expose(target: unknown, second?: unknown, third?: unknown): this {
    this.#registry.add(target, second, third)
    return this
  }

  /** Removes an exposed name. @returns whether it was exposed on this channel. */
  unexpose(name: string): boolean {
    return this.#registry.delete(name)
  }

  /**
   * A typed proxy of the peer's functions: `remote<Api>().add(1, 2)` is `rpc('add', 1, 2)`. Its `then`
   * is undefined, so it can be returned from an async function without being awaited as a thenable.
   */
  remote<T extends object>(): Remote<T> {
    if (!this.#remote) {
      const methods = new Map<string, (...args: unknown[]) => InProgress<unknown, unknown>>()
      this.#remote = new Proxy(Object.create(null) as object, {
        get: (_target, key) => {
          if (typeof key !== 'string' || key === 'then') return undefined
          let method = methods.get(key)
          if (!method) {
            method = (...args: unknown[]) => this.rpc(key, ...args)
            methods.set(key, method)
          }
          return method
        },
      })
    }
    return this.#remote as Remote<T>
  }

  /**
   * Closes gracefully: tells the peer goodbye, rejects pending calls with ChannelClosedError, aborts
   * running handlers, lets frames already written go out, then ends the connection. Idempotent.
   */
  close(): Promise<void> {
    return this.#end(undefined, false)
  }

  /** Ends at once, without a goodbye; pending calls reject with ChannelClosedError (`cause`: `error`). Idempotent. */
  destroy(error?: Error): Promise<void> {
    return this.#end(error, true)
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  // ---------------------------------------------------------------------------------------------
  // Internal API for servers, clients and link helpers.

  /** @internal Registry consulted after the channel's own: the server's, shared by its channels. */
  setSharedRegistry(registry: Registry): void {
    this.#shared = registry
  }

  /**
   * @internal Runs the handshake over `transport`. Resolves once it succeeds; rejects (and destroys the
   * transport) when it fails.
   */
  attach(transport: Transport, role: Role): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') {
      transport.destroy()
      return Promise.reject(new ChannelClosedError('the channel is closed'))
    }
    if (this.#transport) throw new Error('channel already has a transport')
    this.#transport = transport
    this.#state = 'handshaking'
    this.#closeReason = undefined
    this.#opened = false
    this.#readingPaused = false
    this.#peerHandshakeSent = false
    this.#handshake = new Handshake(role, this.#secret, {
      window: this.streamWindow,
      maxFrameSize: this.#maxFrameSize,
    } satisfies HelloOptions)
    this.#handshakeInbox = []
    this.#handshakeBytes = 0
    const done = new Promise<void>((resolve, reject) => {
      this.#handshakeDone = { resolve, reject }
    })
    done.catch(noop)
    this.#handshakeResult = done
    if (this.#unattachedReady) {
      const waiting = this.#unattachedReady
      this.#unattachedReady = undefined
      done.then(waiting.resolve, waiting.reject)
    }
    const timeout = this.#options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT
    this.#handshakeTimer = setTimeout(() => {
      this.#fail(transport, new TimeoutError(`handshake not completed within ${timeout} ms`))
    }, timeout)
    ;(this.#handshakeTimer as { unref?: () => void }).unref?.()
    const sink: TransportSink = {
      message: (payload) => this.#receive(transport, payload),
      closed: (error) => this.#transportClosed(transport, error),
      drain: () => {
        if (transport === this.#transport) this.#flush()
      },
    }
    // Until the peer has sent its handshake frames, no frame may be larger than the handshake cap.
    transport.limitFrameSize?.(this.#options.maxHandshakeBytes ?? DEFAULT_HANDSHAKE_BYTES)
    transport.start(sink)
    this.#write(transport, this.#codec.encode(this.#handshake.hello()))
    return done
  }

  /**
   * @internal Asked when a connection ended without close() on this side: true keeps the channel (its
   * queued calls, exposed functions and listeners) for a new transport. The default ends it for good.
   */
  protected shouldReconnect(_reason: Error | undefined): boolean {
    return false
  }

  /** @internal Called after a connection ended when shouldReconnect said yes. */
  protected reconnect(_reason: Error | undefined): void {}

  /** @internal Settles what is pending when connecting failed for good before any transport exists. */
  protected failWithoutTransport(error: Error): void {
    if (this.#state === 'closed') return
    this.#rejectAll(new ChannelClosedError(`connection failed: ${error.message}`, { cause: error }))
    this.#finish()
  }

  /** @internal True once the channel has ended for good. */
  protected get ended(): boolean {
    return this.#state === 'closing' || this.#state === 'closed'
  }

  /** @internal CallOwner: the caller gave up on a call. */
  cancelCall(id: number, reason: unknown): void {
    if (!this.#pending.delete(id)) return
    if (this.#state === 'closing' || this.#state === 'closed') return
    // A call still in the outbox was never sent: withdraw it instead of telling the peer.
    const queued = this.#outboxKinds.indexOf(id)
    if (queued >= 0) {
      this.#outboxBytes -= payloadLength(this.#outbox[queued])
      this.#outbox.splice(queued, 1)
      this.#outboxKinds.splice(queued, 1)
      return
    }
    this.#send(this.#encodeWithEnvelope((envelope) => [MessageType.Cancel, id, withoutStacks(envelope)], reason))
  }

  /** @internal CallOwner: the consumer of a stream accepts more items. */
  grantCredit(id: number, count: number): void {
    if (this.#state === 'open' && this.#pending.has(id)) {
      this.#send(this.#codec.encode([MessageType.Credit, id, count]))
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /**
   * Sends now when connected and the transport takes more; otherwise queues in order.
   * @param kind the call id for a call, OUTBOX_NOTIFY, or OUTBOX_CONNECTION for frames of this connection.
   */
  #send(payload: Payload, kind: number = OUTBOX_CONNECTION): void {
    if (this.#state === 'open' && !this.#congested) {
      if (!this.#transport!.send(payload)) this.#congested = true
      return
    }
    this.#outbox.push(payload)
    this.#outboxKinds.push(kind)
    this.#outboxBytes += payloadLength(payload)
    if (this.#state === 'open') this.#updateReading()
  }

  /**
   * Pauses reading while answers pile up unwritten (the peer does not read them), and resumes once the
   * transport has drained below the bound: the peer then feels its own backpressure. Calls waiting
   * for a handler slot never pause reading, since the cancels and credits that free those slots
   * arrive on the same connection; their queue is bounded instead (see #handleCall).
   */
  #updateReading(): void {
    const transport = this.#transport
    if (!transport?.pause) return
    const over = this.#outboxBytes > (this.#options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES)
    if (over !== this.#readingPaused) {
      this.#readingPaused = over
      if (over) transport.pause()
      else transport.resume?.()
    }
  }

  /** Handshake frames bypass the outbox: they must go before everything queued. */
  #write(transport: Transport, payload: Uint8Array): void {
    transport.send(payload)
  }

  get #maxFrameSize(): number {
    return this.#options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
  }

  #nextCallId(): number {
    let id = this.#nextId
    if (this.#idsWrapped) while (this.#pending.has(id)) id = id >= 0x7fffffff ? 1 : id + 1
    if (id >= 0x7fffffff) {
      this.#nextId = 1
      this.#idsWrapped = true
    } else {
      this.#nextId = id + 1
    }
    return id
  }

  /** A message the peer would refuse as oversized fails on this side instead of ending the connection. */
  #tooLarge(payload: Payload): SerializationError | undefined {
    const length = payloadLength(payload)
    if (length <= this.#peerMaxFrameSize) return undefined
    return new SerializationError(`message of ${length} bytes exceeds the peer's maxFrameSize (${this.#peerMaxFrameSize})`)
  }

  /** Refuses a new call or notification that would grow the outbox past its bounds. */
  #admit(payload: Payload): Error | undefined {
    if (this.#state === 'open' && !this.#congested) return undefined
    if (this.#state !== 'open' && this.#outbox.length >= (this.#options.maxQueuedCalls ?? DEFAULT_MAX_QUEUED_CALLS)) {
      return new ChannelClosedError(`not connected, and ${this.#outbox.length} calls are already queued (maxQueuedCalls)`)
    }
    const limit = this.#options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    if (this.#outboxBytes + payloadLength(payload) > limit) {
      return new BufferFullError(`${this.#outboxBytes} bytes are waiting to be sent; the limit is ${limit} (maxBufferedBytes)`)
    }
    return undefined
  }

  /** Writes queued frames until the transport pushes back again. */
  #flush(): void {
    if (this.#state !== 'open') return
    this.#congested = false
    const transport = this.#transport!
    let sent = 0
    let bytes = 0
    while (sent < this.#outbox.length) {
      const payload = this.#outbox[sent++]
      bytes += payloadLength(payload)
      if (!transport.send(payload)) {
        this.#congested = true
        break
      }
    }
    if (sent === this.#outbox.length) {
      this.#outbox = []
      this.#outboxKinds = []
    } else {
      this.#outbox.splice(0, sent)
      this.#outboxKinds.splice(0, sent)
    }
    this.#outboxBytes -= bytes
    if (this.#readingPaused) this.#updateReading()
  }

  /**
   * Encodes a message that carries an error envelope, degrading the envelope until it encodes and fits
   * the peer's maxFrameSize: first without what cannot be encoded, then without stacks and properties.
   */
  #encodeWithEnvelope(build: (envelope: ErrorEnvelope) => Message, thrown: unknown): Uint8Array {
    const attempts: (() => ErrorEnvelope)[] = [
      () => toEnvelope(thrown),
      () => toEnvelope(thrown, (value) => this.#codec.canEncode(value)),
      () => withoutStacks(toEnvelope(thrown, (value) => this.#codec.canEncode(value))),
    ]
    let failure: unknown
    for (const attempt of attempts) {
      try {
        const payload = this.#codec.encode(build(attempt()))
        if (!this.#tooLarge(payload)) return payload
        failure = this.#tooLarge(payload)
      } catch (error) {
        failure = error
      }
    }
    const reason = failure instanceof Error ? failure.message : String(failure)
    return this.#codec.encode(build({ type: 'error', name: 'SerializationError', message: `the error could not be sent: ${reason}`.slice(0, 1000), props: { code: 'ERR_SERIALIZATION' } }))
  }

  #sendError(id: number, thrown: unknown): void {
    if (this.#state !== 'open') return
    this.#send(this.#encodeWithEnvelope((envelope) => [MessageType.Error, id, envelope], thrown))
  }

  #sendResult(id: number, value: unknown): void {
    if (this.#state !== 'open') return
    let payload: Payload
    try {
      payload = this.#codec.encodeData([MessageType.Result, id, value], 2)
    } catch (error) {
      this.#sendError(id, error)
      return
    }
    const tooLarge = this.#tooLarge(payload)
    if (tooLarge) this.#sendError(id, tooLarge)
    else this.#send(payload)
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  #receive(transport: Transport, payload: Uint8Array): void {
    // After this side decided to end the connection, nothing more from it counts.
    if (transport !== this.#transport || this.#closeReason) return
    this.#receivedSinceTick = true
    if (this.#state === 'open') {
      if (this.#backlog) this.#backlog.push(payload)
      else this.#dispatch(payload)
    } else if (this.#state === 'handshaking') {
      if (!this.#peerHandshakeSent) {
        // Before its handshake is complete the peer may send hello, auth and goodbye only, and little.
        this.#handshakeBytes += payload.byteLength
        const cap = this.#options.maxHandshakeBytes ?? DEFAULT_HANDSHAKE_BYTES
        if (this.#handshakeBytes > cap) {
          this.#fail(transport, new ProtocolError(`more than ${cap} bytes sent before the handshake completed`))
          return
        }
        const type = peekType(payload)
        if (!isHandshakeMessage(type)) {
          this.#fail(transport, new ProtocolError(`message type ${type} sent before the handshake completed`))
          return
        }
        if (type === (this.#secret ? MessageType.Auth : MessageType.Hello)) {
          // What follows is ordinary traffic the peer sent at once (its queued calls), while this side
          // still verifies: it may be as large as any frame.
          this.#peerHandshakeSent = true
          transport.limitFrameSize?.(this.#maxFrameSize)
        }
      }
      this.#handshakeInbox.push(payload)
      if (!this.#handshakeBusy) void this.#runHandshake(transport)
    }
  }

  /** Feeds queued frames to the handshake one at a time (it awaits crypto), then opens the channel. */
  async #runHandshake(transport: Transport): Promise<void> {
    this.#handshakeBusy = true
    try {
      // `#closeReason` set: this side already failed the handshake (while crypto was pending) and must
      // not open, whatever frames are still queued.
      while (this.#handshakeInbox.length > 0 && this.#state === 'handshaking' && transport === this.#transport && !this.#closeReason) {
        const message = this.#decode(this.#handshakeInbox.shift()!)
        if (message[0] === MessageType.Goodbye) {
          throw new ChannelClosedError('the peer closed the connection during the handshake')
        }
        const peer = await this.#handshake!.receive(message, (auth) => this.#write(transport, this.#codec.encode(auth)))
        if (transport !== this.#transport || this.#state !== 'handshaking' || this.#closeReason) return
        if (peer) this.#open(peer)
      }
      // Frames that arrived behind the peer's last handshake frame (the peer's first calls, sent as
      // soon as it saw our proof) wait one macrotask: whoever awaits the connection resumes in
      // microtasks and must get to expose its handlers before those calls are looked up.
      if (this.#state === 'open' && transport === this.#transport && this.#handshakeInbox.length > 0) {
        const backlog = (this.#backlog = this.#handshakeInbox)
        this.#handshakeInbox = []
        setTimeout(() => {
          this.#backlog = undefined
          for (const payload of backlog) {
            if (this.#state !== 'open' || transport !== this.#transport) return
            this.#dispatch(payload)
          }
        }, 0)
      }
    } catch (error) {
      this.#fail(transport, error as Error)
    } finally {
      this.#handshakeBusy = false
      const closed = this.#closedDuringHandshake
      this.#closedDuringHandshake = undefined
      if (closed) this.#transportClosed(closed.transport, closed.error)
    }
  }

  #open(peer: PeerInfo): void {
    clearTimeout(this.#handshakeTimer)
    this.#handshakeTimer = undefined
    this.#handshake = undefined
    this.#peerWindow = peer.options.window ?? DEFAULT_STREAM_WINDOW
    this.#peerMaxFrameSize = peer.options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    this.#transport!.limitFrameSize?.(this.#maxFrameSize)
    this.#state = 'open'
    this.#opened = true
    this.#congested = false
    this.#startHeartbeat(this.#transport!)
    this.#flush()
    this.#handshakeDone?.resolve()
    this.#handshakeDone = undefined
    this.emit('connect')
  }

  #decode(payload: Uint8Array): unknown[] {
    const message = this.#codec.decode(payload)
    if (!Array.isArray(message) || typeof message[0] !== 'number') {
      throw new ProtocolError('a message must be an array starting with its type')
    }
    return message
  }

  #dispatch(payload: Uint8Array): void {
    let message: unknown[]
    try {
      message = this.#decode(payload)
      this.#handle(message)
    } catch (error) {
      // A protocol error ends this channel only; anything else is a bug of ours and is reported.
      if (error instanceof ProtocolError) this.#fail(this.#transport!, error)
      else this.emit('error', error as Error)
    }
  }

  #handle(message: unknown[]): void {
    const type = message[0]
    switch (type) {
      case MessageType.Call: {
        const [, id, name, args] = message
        if (!isId(id) || typeof name !== 'string' || !Array.isArray(args)) throw malformed('call')
        this.#handleCall(id, name, args)
        return
      }
      case MessageType.Notify: {
        const [, name, args] = message
        if (typeof name !== 'string' || !Array.isArray(args)) throw malformed('notify')
        this.#handleNotify(name, args)
        return
      }
      case MessageType.Result: {
        const id = message[1]
        if (!isId(id)) throw malformed('result')
        const call = this.#pending.get(id)
        // Unknown ids are late replies to calls given up on (abort, timeout): dropped.
        if (call) {
          this.#pending.delete(id)
          call.resolve(message[2])
        }
        return
      }
      case MessageType.Error: {
        const id = message[1]
        if (!isId(id)) throw malformed('error')
        const call = this.#pending.get(id)
        if (call) {
          this.#pending.delete(id)
          call.reject(fromEnvelope(message[2], this.#errorClasses))
        }
        return
      }
      case MessageType.Cancel: {
        const id = message[1]
        if (!isId(id)) throw malformed('cancel')
        const running = this.#running.get(id)
        if (running) this.#cancelRunning(id, running, fromEnvelope(message[2], this.#errorClasses))
        else {
          // Not started yet: it never will be.
          const waiting = this.#waiting.findIndex((entry) => entry[0] === id)
          if (waiting >= 0) this.#waiting.splice(waiting, 1)
        }
        return
      }
      case MessageType.Progress: {
        const id = message[1]
        if (!isId(id)) throw malformed('progress')
        this.#pending.get(id)?.progress(message[2])
        return
      }
      case MessageType.Item: {
        const id = message[1]
        if (!isId(id)) throw malformed('item')
        const call = this.#pending.get(id)
        if (call && !call.item(message[2])) throw new ProtocolError(`stream ${id} sent more items than its credit allows`)
        return
      }
      case MessageType.End: {
        const id = message[1]
        if (!isId(id)) throw malformed('end')
        const call = this.#pending.get(id)
        if (call) {
          this.#pending.delete(id)
          call.end()
        }
        return
      }
      case MessageType.Credit: {
        const [, id, count] = message
        if (!isId(id) || !isId(count)) throw malformed('credit')
        const running = this.#running.get(id)
        if (running) {
          running.credit += count
          const resume = running.resume
          running.resume = undefined
          resume?.()
        }
        return
      }
      case MessageType.Ping: {
        const token = message[1]
        if (!isId(token)) throw malformed('ping')
        this.#send(this.#codec.encode([MessageType.Pong, token]))
        return
      }
      case MessageType.Pong:
        return
      case MessageType.Goodbye:
        if (this.shouldReconnect(undefined)) {
          // A server that closes on purpose (a restart) is one to reconnect to, like a lost one.
          this.#closeReason = { error: new ChannelClosedError('the peer closed the channel'), report: false }
          this.#transport!.close()
        } else {
          this.#end(undefined, false, true)
        }
        return
      case MessageType.Hello:
      case MessageType.Auth:
        throw new ProtocolError('handshake message after the handshake completed')
      default:
        throw new ProtocolError(`unknown message type ${String(type)}`)
    }
  }

  #lookup(name: string): Registration | undefined {
    return this.#registry.get(name) ?? this.#shared?.get(name)
  }

  #handleCall(id: number, name: string, args: unknown[], fromQueue = false): void {
    if (!fromQueue && this.#running.has(id)) throw new ProtocolError(`call id ${id} is already running`)
    if (!fromQueue && (this.#waiting.length > 0 || this.#running.size >= this.#maxConcurrentCalls)) {
      const maxWaiting = this.#options.maxWaitingCalls ?? DEFAULT_MAX_WAITING_CALLS
      if (this.#waiting.length >= maxWaiting) {
        this.#sendError(id, new BufferFullError(`${this.#waiting.length} calls already wait for a handler slot (maxWaitingCalls)`))
        return
      }
      this.#waiting.push([id, name, args])
      return
    }
    const registration = this.#lookup(name)
    if (!registration) {
      this.#sendError(id, new MethodNotFoundError(name))
      return
    }
    let running: RunningCall | undefined
    let result: unknown
    try {
      if (registration.context) {
        running = this.#track(id)
        const context = new Context(this, running, (value) => this.#sendProgress(id, running!, value))
        result = registration.fn.call(registration.thisArg, context, ...args)
      } else {
        result = registration.fn.apply(registration.thisArg, args)
      }
    } catch (error) {
      if (running) this.#running.delete(id)
      this.#sendError(id, error)
      return
    }
    if (isPromiseLike(result)) {
      const tracked = running ?? this.#track(id)
      result.then(
        (value) => this.#complete(id, tracked, value),
        (error: unknown) => {
          if (this.#untrack(id, tracked)) this.#sendError(id, error)
        },
      )
    } else {
      this.#complete(id, running, result)
    }
  }

  #track(id: number): RunningCall {
    const running: RunningCall = {
      controller: undefined,
      abortReason: undefined,
      cancelled: false,
      credit: this.#peerWindow,
      resume: undefined,
      iterator: undefined,
    }
    this.#running.set(id, running)
    return running
  }

  /** Forgets a finished call. @returns whether its outcome should still be sent. */
  #untrack(id: number, running: RunningCall | undefined): boolean {
    if (running) {
      if (running.cancelled) return false
      this.#running.delete(id)
      if (this.#waiting.length > 0) queueMicrotask(() => this.#startWaiting())
    }
    return this.#state === 'open'
  }

  /** Starts calls that waited for a handler slot, in arrival order. */
  #startWaiting(): void {
    if (this.#startingWaiting) return
    this.#startingWaiting = true
    try {
      while (this.#waiting.length > 0 && this.#running.size < this.#maxConcurrentCalls && this.#state === 'open') {
        const [id, name, args] = this.#waiting.shift()!
        this.#handleCall(id, name, args, true)
      }
    } finally {
      this.#startingWaiting = false
    }
  }

  get #maxConcurrentCalls(): number {
    return this.#options.maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS
  }

  #complete(id: number, running: RunningCall | undefined, value: unknown): void {
    if (isAsyncIterable(value)) {
      if (running?.cancelled) return
      void this.#pumpStream(id, running ?? this.#track(id), value)
      return
    }
    if (this.#untrack(id, running)) this.#sendResult(id, value)
  }

  /** Sends a stream's items while the caller has credit; ends, fails or stops it when cancelled. */
  async #pumpStream(id: number, running: RunningCall, iterable: AsyncIterable<unknown>): Promise<void> {
    let iterator: AsyncIterator<unknown>
    try {
      iterator = iterable[Symbol.asyncIterator]()
    } catch (error) {
      if (this.#untrack(id, running)) this.#sendError(id, error)
      return
    }
    running.iterator = iterator
    try {
      for (;;) {
        if (running.credit <= 0 && !running.cancelled) {
          await new Promise<void>((resume) => {
            running.resume = resume
          })
        }
        if (running.cancelled) return
        const step = await iterator.next()
        if (running.cancelled) return
        if (step.done) {
          if (this.#untrack(id, running)) this.#send(this.#codec.encode([MessageType.End, id]))
          return
        }
        let payload: Payload
        try {
          payload = this.#codec.encodeData([MessageType.Item, id, step.value], 2)
          const tooLarge = this.#tooLarge(payload)
          if (tooLarge) throw tooLarge
        } catch (error) {
          this.#stopIterator(running)
          if (this.#untrack(id, running)) this.#sendError(id, error)
          return
        }
        running.credit--
        this.#send(payload)
      }
    } catch (error) {
      if (this.#untrack(id, running)) this.#sendError(id, error)
    }
  }

  #stopIterator(running: RunningCall): void {
    const iterator = running.iterator
    running.iterator = undefined
    // Queued behind a pending next() for async generators, so the generator's finally runs once it yields.
    void Promise.resolve()
      .then(() => iterator?.return?.())
      .catch((error: unknown) => this.emit('error', error as Error))
  }

  #cancelRunning(id: number, running: RunningCall, reason: unknown): void {
    if (running.cancelled) return
    running.cancelled = true
    running.abortReason = reason
    this.#running.delete(id)
    if (this.#waiting.length > 0) queueMicrotask(() => this.#startWaiting())
    running.controller?.abort(reason)
    if (running.iterator) this.#stopIterator(running)
    const resume = running.resume
    running.resume = undefined
    resume?.()
  }

  #sendProgress(id: number, running: RunningCall, value: unknown): void {
    // After the handler finished (its result is on its way) progress would arrive late: dropped.
    if (running.cancelled || this.#state !== 'open' || this.#running.get(id) !== running) return
    const payload = this.#codec.encodeData([MessageType.Progress, id, value], 2)
    const tooLarge = this.#tooLarge(payload)
    if (tooLarge) throw tooLarge
    this.#send(payload)
  }

  #handleNotify(name: string, args: unknown[]): void {
    const registration = this.#lookup(name)
    if (!registration) {
      this.emit('error', new MethodNotFoundError(name, { message: `notification for an unknown method: ${JSON.stringify(name)}` }))
      return
    }
    const report = (error: unknown): void => {
      this.emit('error', error instanceof Error ? error : new Error(`notification handler ${JSON.stringify(name)} threw`, { cause: error }))
    }
    try {
      let result: unknown
      if (registration.context) {
        const running: RunningCall = {
          controller: undefined,
          abortReason: undefined,
          cancelled: false,
          credit: 0,
          resume: undefined,
          iterator: undefined,
        }
        result = registration.fn.call(registration.thisArg, new Context(this, running, noop), ...args)
      } else {
        result = registration.fn.apply(registration.thisArg, args)
      }
      if (isPromiseLike(result)) result.then(undefined, report)
    } catch (error) {
      report(error)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Liveness

  #startHeartbeat(transport: Transport): void {
    const option = this.#options.heartbeat
    if (option === false) return
    const interval = option?.interval ?? DEFAULT_HEARTBEAT.interval
    const timeout = option?.timeout ?? DEFAULT_HEARTBEAT.timeout
    this.#lastAlive = Date.now()
    this.#receivedSinceTick = false
    let token = 0
    this.#heartbeatTimer = setInterval(() => {
      const now = Date.now()
      if (this.#receivedSinceTick) {
        this.#receivedSinceTick = false
        this.#lastAlive = now
      } else if (now - this.#lastAlive >= timeout) {
        this.#fail(transport, new TimeoutError(`the peer sent nothing for ${now - this.#lastAlive} ms (heartbeat timeout ${timeout} ms)`))
        return
      }
      token = (token + 1) & 0x7fffffff
      this.#send(this.#codec.encode([MessageType.Ping, token]))
    }, interval)
    ;(this.#heartbeatTimer as { unref?: () => void }).unref?.()
  }

  #stopHeartbeat(): void {
    if (this.#heartbeatTimer !== undefined) {
      clearInterval(this.#heartbeatTimer)
      this.#heartbeatTimer = undefined
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Ending

  /** A protocol or handshake failure: drop this transport with the error. */
  #fail(transport: Transport, error: Error): void {
    if (transport !== this.#transport) return
    this.#closeReason ??= { error, report: true }
    transport.destroy(error)
  }

  #end(error: Error | undefined, abortive: boolean, byPeer = false): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#resolveClosed = resolve
    })
    if (this.#state === 'closed') return this.#closed
    const transport = this.#transport
    if (this.#state !== 'closing') {
      const wasOpen = this.#state === 'open'
      this.#state = 'closing'
      this.#stopHeartbeat()
      this.#closeReason ??= { error, report: false }
      const rejection = byPeer
        ? new ChannelClosedError('the peer closed the channel')
        : new ChannelClosedError(error ? `channel destroyed: ${error.message}` : 'channel closed', error ? { cause: error } : undefined)
      if (transport && wasOpen && !abortive && !byPeer) {
        // Replies, stream frames and accepted notifications (notify() returned) still go out, ahead of
        // the goodbye; calls that were never sent are rejected below instead.
        for (let i = 0; i < this.#outbox.length; i++) {
          const kind = this.#outboxKinds[i]
          if (kind === OUTBOX_CONNECTION || kind === OUTBOX_NOTIFY) transport.send(this.#outbox[i])
        }
        this.#rejectAll(rejection)
        transport.send(this.#codec.encode([MessageType.Goodbye, null]))
      } else {
        this.#rejectAll(rejection)
      }
    }
    if (!transport) {
      this.#finish()
    } else if (abortive) {
      transport.destroy(error)
    } else {
      transport.close()
    }
    return this.#closed
  }

  #transportClosed(transport: Transport, error: Error | undefined): void {
    if (transport !== this.#transport) return
    if (this.#handshakeBusy) {
      // Frames the peer sent before hanging up (its auth proof) still decide why the handshake failed.
      this.#closedDuringHandshake = { transport, error }
      return
    }
    const backlog = this.#backlog
    if (backlog && this.#state === 'open') {
      // Frames that arrived before the end (results, the peer's goodbye) still count.
      this.#backlog = undefined
      for (const payload of backlog) {
        if (this.#state !== 'open') break
        this.#dispatch(payload)
      }
    }
    this.#transport = undefined
    this.#backlog = undefined
    this.#congested = false
    this.#stopHeartbeat()
    clearTimeout(this.#handshakeTimer)
    this.#handshakeTimer = undefined
    const wasOpen = this.#opened
    this.#opened = false
    const decided = this.#closeReason
    this.#closeReason = undefined
    const reason =
      decided !== undefined
        ? decided.error
        : (error ?? new ChannelClosedError('the connection was lost'))
    const handshake = this.#handshakeDone
    this.#handshakeDone = undefined
    this.#handshake = undefined
    if (handshake) {
      handshake.reject(reason ?? new ChannelClosedError('the channel was closed during the handshake'))
    }
    const rejection = new ChannelClosedError(
      reason ? `the connection was lost: ${reason.message}` : 'channel closed',
      reason ? { cause: reason } : undefined,
    )
    const reconnecting = this.#state !== 'closing' && this.shouldReconnect(reason)
    // Calls already sent may or may not have run: they reject (at most once). Unsent ones may wait.
    this.#rejectAll(rejection, reconnecting)
    const report = decided ? decided.report : reason instanceof ProtocolError
    if (report && reason && !handshake) this.emit('error', reason)
    if (wasOpen && !handshake) this.emit('disconnect', reason)
    if (reconnecting && this.#state !== 'closing' && this.#state !== 'closed') {
      this.#state = 'idle'
      this.reconnect(reason)
      return
    }
    this.#finish()
  }

  /**
   * Rejects pending calls and stops running handlers.
   * @param keepQueued keep calls and notifications that were never sent, for the next connection.
   */
  #rejectAll(error: ChannelClosedError, keepQueued = false): void {
    let kept: Set<number> | undefined
    if (keepQueued) {
      const outbox: Payload[] = []
      const kinds: number[] = []
      let bytes = 0
      kept = new Set()
      for (let i = 0; i < this.#outbox.length; i++) {
        const kind = this.#outboxKinds[i]
        if (kind === OUTBOX_CONNECTION) continue
        outbox.push(this.#outbox[i])
        kinds.push(kind)
        bytes += payloadLength(this.#outbox[i])
        if (kind > 0) kept.add(kind)
      }
      this.#outbox = outbox
      this.#outboxKinds = kinds
      this.#outboxBytes = bytes
    } else {
      this.#outbox = []
      this.#outboxKinds = []
      this.#outboxBytes = 0
    }
    if (this.#pending.size > (kept?.size ?? 0)) {
      for (const [id, call] of [...this.#pending]) {
        if (kept?.has(id)) continue
        this.#pending.delete(id)
        call.reject(error)
      }
    }
    this.#waiting = []
    if (this.#running.size > 0) {
      for (const [id, running] of [...this.#running]) this.#cancelRunning(id, running, error)
    }
  }

  #finish(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#unattachedReady?.reject(new ChannelClosedError('the channel closed before it connected'))
    this.#unattachedReady = undefined
    this.#closed ??= Promise.resolve()
    this.#resolveClosed?.()
  }
}

/**
 * @internal Runs the handshake of `channel` over `transport`: the links' way in, kept off the Channel's
 * visible surface. Resolves once the handshake succeeded; rejects (and destroys the transport) when it fails.
 */
export function attachTransport(channel: Channel, transport: Transport, role: Role): Promise<void> {
  return channel.attach(transport, role)
}

/** @internal Makes `registry` (a server's, shared by its channels) the one consulted after the channel's own. */
export function shareRegistry(channel: Channel, registry: Registry): void {
  channel.setSharedRegistry(registry)
}

function malformed(kind: string): ProtocolError {
  return new ProtocolError(`malformed ${kind} message`)
}
