import { EventEmitter } from 'eventemitter3'
import { Codec } from '../protocol/codec.js'
import { errorClassMap, fromEnvelope, toEnvelope, type ErrorClass } from '../protocol/fault.js'
import { MessageType, type ErrorEnvelope, type HelloOptions, type Message } from '../protocol/messages.js'
import { ChannelClosedError, MethodNotFoundError, ProtocolError, TimeoutError } from './errors.js'
import { Handshake, secretBytes, type PeerInfo, type Role } from './handshake.js'
import { InProgress, type CallOwner } from './in-progress.js'
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
}

/** Default for {@link ChannelOptions.maxFrameSize}. */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000
const DEFAULT_STREAM_WINDOW = 64
/** Bytes an unauthenticated peer may send before the handshake completes. */
const HANDSHAKE_BYTE_CAP = 64 * 1024

/** Events of every channel. */
export interface ChannelEvents {
  /** The handshake (and authentication) succeeded; calls flow. */
  connect: () => void
  /** The connection ended. `reason` is set when it did not end by a close() of either side. */
  disconnect: (reason?: Error) => void
  /** A failure that no call could receive: a protocol error, a notification handler that threw. */
  error: (error: Error) => void
}

/**
 * Maps an interface of remote functions to what calling them returns: each method returns an
 * InProgress of its awaited result; async generators become streams that can be iterated or awaited
 * as an array. A leading CallContext parameter (handlers exposed with `{ context: true }`) is dropped.
 */
export type Remote<T> = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [K in keyof T as T[K] extends (...args: any[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R
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

  progress(value: unknown): void {
    this.#send(value)
  }
}

/**
 * One end of a connection: call the peer's functions with `rpc` and `notify`, expose functions for the
 * peer to call. Made by `Server` (one per connection), `Client` (which is a Channel), `fromStream` and
 * `fromMessagePort`.
 */
export class Channel extends EventEmitter<ChannelEvents> implements CallOwner {
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
  /** Frames queued until the handshake completes. */
  #outbox: Uint8Array[] = []
  #handshake: Handshake | undefined
  #handshakeInbox: Uint8Array[] = []
  #handshakeBytes = 0
  #handshakeBusy = false
  /** A transport that closed while the handshake was awaiting crypto: handled once that step is done. */
  #closedDuringHandshake: { transport: Transport; error: Error | undefined } | undefined
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined
  #handshakeDone: { resolve: () => void; reject: (error: Error) => void } | undefined
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
    const id = this.#nextId
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1
    const call = new InProgress<T, Item>(this, id, name)
    if (this.#state === 'closing' || this.#state === 'closed') {
      call.reject(new ChannelClosedError(`cannot call ${JSON.stringify(name)}: the channel is closed`))
      return call
    }
    let payload: Uint8Array
    try {
      payload = this.#codec.encode([MessageType.Call, id, name, args])
    } catch (error) {
      call.reject(error)
      return call
    }
    this.#pending.set(id, call as InProgress<unknown, unknown>)
    this.#send(payload)
    if (this.#options.callTimeout !== undefined) call.timeout(this.#options.callTimeout)
    return call
  }

  /**
   * Calls `name` on the peer without waiting for, or receiving, any answer. A handler that throws is
   * reported to the peer's `error` event, never to this side.
   * @throws SerializationError when an argument cannot be encoded.
   * @throws ChannelClosedError after the channel was closed.
   */
  notify(name: string, ...args: unknown[]): void {
    if (this.#state === 'closing' || this.#state === 'closed') {
      throw new ChannelClosedError(`cannot notify ${JSON.stringify(name)}: the channel is closed`)
    }
    this.#send(this.#codec.encode([MessageType.Notify, name, args]))
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
    this.#handshake = new Handshake(role, this.#secret, { window: this.streamWindow } satisfies HelloOptions)
    this.#handshakeInbox = []
    this.#handshakeBytes = 0
    const done = new Promise<void>((resolve, reject) => {
      this.#handshakeDone = { resolve, reject }
    })
    done.catch(noop)
    const timeout = this.#options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT
    this.#handshakeTimer = setTimeout(() => {
      this.#fail(transport, new TimeoutError(`handshake not completed within ${timeout} ms`))
    }, timeout)
    ;(this.#handshakeTimer as { unref?: () => void }).unref?.()
    const sink: TransportSink = {
      message: (payload) => this.#receive(transport, payload),
      closed: (error) => this.#transportClosed(transport, error),
      drain: noop,
    }
    transport.start(sink)
    this.#write(transport, this.#codec.encode(this.#handshake.hello()))
    return done
  }

  /**
   * @internal Called when a transport has closed and the channel is about to end. Subclasses that can
   * reconnect override it; the default ends the channel for good.
   */
  protected transportEnded(_error: Error | undefined): boolean {
    return false
  }

  /** @internal Settles what is pending when a connection attempt fails before any transport exists. */
  protected failWithoutTransport(error: Error): void {
    this.#rejectAll(new ChannelClosedError(`connection failed: ${error.message}`, { cause: error }))
    this.#finish()
  }

  /** @internal CallOwner: the caller gave up on a call. */
  cancelCall(id: number, reason: unknown): void {
    if (!this.#pending.delete(id)) return
    if (this.#state === 'closing' || this.#state === 'closed') return
    this.#send(this.#encodeWithEnvelope((envelope) => [MessageType.Cancel, id, envelope], reason))
  }

  /** @internal CallOwner: the consumer of a stream accepts more items. */
  grantCredit(id: number, count: number): void {
    if (this.#state === 'open' && this.#pending.has(id)) {
      this.#send(this.#codec.encode([MessageType.Credit, id, count]))
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  #send(payload: Uint8Array): void {
    if (this.#state === 'open') this.#write(this.#transport!, payload)
    else this.#outbox.push(payload)
  }

  #write(transport: Transport, payload: Uint8Array): void {
    transport.send(payload)
  }

  /** Encodes a message that carries an error envelope, degrading the envelope until it encodes. */
  #encodeWithEnvelope(build: (envelope: ErrorEnvelope) => Message, thrown: unknown): Uint8Array {
    try {
      return this.#codec.encode(build(toEnvelope(thrown)))
    } catch {
      try {
        return this.#codec.encode(build(toEnvelope(thrown, (value) => this.#codec.canEncode(value))))
      } catch (error) {
        return this.#codec.encode(build(toEnvelope(error)))
      }
    }
  }

  #sendError(id: number, thrown: unknown): void {
    if (this.#state !== 'open') return
    this.#send(this.#encodeWithEnvelope((envelope) => [MessageType.Error, id, envelope], thrown))
  }

  #sendResult(id: number, value: unknown): void {
    if (this.#state !== 'open') return
    let payload: Uint8Array
    try {
      payload = this.#codec.encode([MessageType.Result, id, value])
    } catch (error) {
      this.#sendError(id, error)
      return
    }
    this.#send(payload)
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  #receive(transport: Transport, payload: Uint8Array): void {
    if (transport !== this.#transport) return
    if (this.#state === 'open') {
      this.#dispatch(payload)
    } else if (this.#state === 'handshaking') {
      this.#handshakeBytes += payload.byteLength
      if (this.#handshakeBytes > HANDSHAKE_BYTE_CAP) {
        this.#fail(transport, new ProtocolError(`more than ${HANDSHAKE_BYTE_CAP} bytes sent before the handshake completed`))
        return
      }
      this.#handshakeInbox.push(payload)
      if (!this.#handshakeBusy) void this.#runHandshake(transport)
    }
  }

  /** Feeds queued frames to the handshake one at a time (it awaits crypto), then opens the channel. */
  async #runHandshake(transport: Transport): Promise<void> {
    this.#handshakeBusy = true
    try {
      while (this.#handshakeInbox.length > 0 && this.#state === 'handshaking' && transport === this.#transport) {
        const message = this.#decode(this.#handshakeInbox.shift()!)
        if (message[0] === MessageType.Goodbye) {
          throw new ChannelClosedError('the peer closed the connection during the handshake')
        }
        const peer = await this.#handshake!.receive(message, (auth) => this.#write(transport, this.#codec.encode(auth)))
        if (transport !== this.#transport || this.#state !== 'handshaking') return
        if (peer) this.#open(peer)
      }
      // Frames that arrived behind the peer's last handshake frame, in order.
      while (this.#state === 'open' && transport === this.#transport && this.#handshakeInbox.length > 0) {
        this.#dispatch(this.#handshakeInbox.shift()!)
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
    this.#peerWindow = peer.options.window !== undefined && peer.options.window >= 1 ? peer.options.window : DEFAULT_STREAM_WINDOW
    this.#state = 'open'
    this.#opened = true
    const transport = this.#transport!
    const queued = this.#outbox
    this.#outbox = []
    for (const payload of queued) this.#write(transport, payload)
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
        this.#pending.get(id)?.item(message[2])
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
        this.#end(undefined, false, true)
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

  #handleCall(id: number, name: string, args: unknown[]): void {
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
    }
    return this.#state === 'open'
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
        let payload: Uint8Array
        try {
          payload = this.#codec.encode([MessageType.Item, id, step.value])
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
    running.controller?.abort(reason)
    if (running.iterator) this.#stopIterator(running)
    const resume = running.resume
    running.resume = undefined
    resume?.()
  }

  #sendProgress(id: number, running: RunningCall, value: unknown): void {
    if (running.cancelled || this.#state !== 'open') return
    this.#send(this.#codec.encode([MessageType.Progress, id, value]))
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
      this.#closeReason ??= { error, report: false }
      const rejection = byPeer
        ? new ChannelClosedError('the peer closed the channel')
        : new ChannelClosedError(error ? `channel destroyed: ${error.message}` : 'channel closed', error ? { cause: error } : undefined)
      this.#rejectAll(rejection)
      if (transport && wasOpen && !abortive && !byPeer) {
        this.#write(transport, this.#codec.encode([MessageType.Goodbye, null]))
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
    this.#transport = undefined
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
    this.#rejectAll(rejection)
    if (decided?.report && reason && !handshake) this.emit('error', reason)
    if (wasOpen && !handshake) this.emit('disconnect', reason)
    if (this.#state !== 'closing' && this.transportEnded(reason)) {
      this.#state = 'idle'
      return
    }
    this.#finish()
  }

  #rejectAll(error: ChannelClosedError): void {
    if (this.#pending.size > 0) {
      const calls = [...this.#pending.values()]
      this.#pending.clear()
      for (const call of calls) call.reject(error)
    }
    this.#outbox = []
    if (this.#running.size > 0) {
      for (const [id, running] of [...this.#running]) this.#cancelRunning(id, running, error)
    }
  }

  #finish(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#closed ??= Promise.resolve()
    this.#resolveClosed?.()
  }
}

function malformed(kind: string): ProtocolError {
  return new ProtocolError(`malformed ${kind} message`)
}
