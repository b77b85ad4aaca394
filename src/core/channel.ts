/**
 * The Channel facade: the public API of one end of a connection, its lifecycle (idle, handshaking,
 * open, closing, closed), and the routing of each incoming message to the part that owns it. The
 * parts: Connection (one per transport), Outbox, OutgoingCalls, IncomingCalls, MessageEncoder.
 */
import { EventEmitter } from 'eventemitter3'
import { Codec } from '../protocol/codec.js'
import { MessageEncoder } from '../protocol/encoder.js'
import type { MethodDescription } from '../protocol/introspection.js'
import { announce } from './announce.js'
import type { Implementation, NotAFunction, PlainHandler, Remote } from './api-types.js'
import { statsOf, type ChannelEvents, type ChannelStats, type Traffic } from './channel-events.js'
import { closing, Connection, lostMessage, type ConnectionEnd, type ConnectionOwner } from './connection.js'
import { ChannelClosedError } from './errors.js'
import type { Role } from './handshake.js'
import { IncomingCalls } from './incoming-calls.js'
import type { InProgress } from './in-progress.js'
import { DESCRIBE_METHOD, Introspection } from './introspection.js'
import { CHANNEL_OPTION_NAMES, checkOptionNames, DEFAULTS, describe as describeValue, resolveOptions } from './options.js'
import type { CallOptions, ChannelOptions, ResolvedOptions } from './options.js'
import { CONNECTION, NOTIFICATION, Outbox } from './outbox.js'
import { OutgoingCalls } from './outgoing-calls.js'
import { Registry, type ExposeOptions, type Handler } from './registry.js'
import { endReferences, NOT_OPEN, openReferences } from './reference-state.js'
import { unreachable, type References } from './references.js'
import { remoteProxy } from './remote.js'
import { routeMessage, type Routes } from './router.js'
import { Readiness } from './readiness.js'
import { notFoundHint } from './suggest.js'
import type { Transport } from './transport.js'

export type { CallOptions, ChannelOptions } from './options.js'
export type { Implementation, NotAFunction, Remote, RemoteReturn } from './api-types.js'
export type { ChannelEvents, ChannelStats } from './channel-events.js'

/**
 * Passed as the first argument to handlers exposed with `{ context: true }`.
 * @typeParam P the type of the progress values the handler reports (typed on the caller's side by
 *   `remote<Api>()` when Api's method takes a `CallContext<P>`).
 */
export interface CallContext<P = unknown> {
  /** The channel the call came in on: call the caller back through it. */
  readonly channel: Channel
  /** Aborted when the caller aborts or times out the call, or when the channel closes. */
  readonly signal: AbortSignal
  /** Sends a progress value to the caller's `onProgress` listeners, ahead of the result. */
  progress(value: P): void
}

/** A handler exposed with `{ context: true }`: it receives a CallContext before the caller's arguments. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ContextHandler = (context: CallContext<any>, ...args: any[]) => unknown

type ChannelState = 'idle' | 'handshaking' | 'open' | 'closing' | 'closed'

/**
 * @internal Runs the handshake of `channel` over `transport`: resolves once it succeeded, rejects (and
 * destroys the transport) when it fails. Set in Channel's static block: the links' way in, without a
 * Channel member that plain JavaScript could call.
 */
export let attachTransport: (channel: Channel, transport: Transport, role: Role) => Promise<void>
/** @internal Makes `registry` (a server's, shared by its channels) the one consulted after the channel's own. */
export let shareRegistry: (channel: Channel, registry: Registry) => void

/**
 * One end of a connection: call the peer's functions with `rpc` and `notify`, expose functions for the
 * peer to call. Made by `Server` (one per connection), `Client` (which is a Channel), `fromStream` and
 * `fromMessagePort`.
 */
export class Channel extends EventEmitter<ChannelEvents> {
  static {
    attachTransport = (channel, transport, role) => channel.#attach(transport, role)
    shareRegistry = (channel, registry) => void (channel.#shared = registry)
  }

  readonly #options: ChannelOptions
  readonly #resolved: ResolvedOptions
  readonly #encoder: MessageEncoder
  readonly #registry = new Registry()
  #shared: Registry | undefined
  #state: ChannelState = 'idle'
  /** The current transport's connection; undefined between connections. */
  #connection: Connection | undefined
  readonly #connectionOwner: ConnectionOwner
  readonly #outbox: Outbox
  readonly #calls: OutgoingCalls
  readonly #incoming: IncomingCalls<Channel>
  readonly #readiness = new Readiness()
  #remote: object | undefined
  /** The reference tables of the open connection, when both ends announced the feature. */
  #references: References | undefined
  readonly #introspection: Introspection
  readonly #traffic: Traffic = { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0 }

  /** @throws TypeError (an unknown option name, a value of the wrong type) or RangeError, naming the option. */
  constructor(options: ChannelOptions = {}) {
    super()
    // Subclasses (Client) take more options, and check the names themselves.
    if (new.target === Channel) checkOptionNames(options, CHANNEL_OPTION_NAMES, 'Channel')
    this.#options = options
    const resolved = (this.#resolved = resolveOptions(options))
    const encoder = (this.#encoder = new MessageEncoder(new Codec(), DEFAULTS.maxFrameSize, resolved.sendStacks))
    encoder.codec.references = NOT_OPEN
    const outbox = (this.#outbox = new Outbox(resolved.maxBufferedBytes, resolved.maxQueuedCalls))
    const ping = (token: number): void => outbox.send(encoder.ping(token), CONNECTION)
    const introspection = (this.#introspection = new Introspection(this.#registry, () => this.#shared, resolved.introspection, ping))
    this.#calls = new OutgoingCalls(resolved, {
      encode: (id, target, args) =>
        outbox.admit(
          typeof target === 'string'
            ? encoder.call(id, target, args as unknown[])
            : encoder.callReference(id, target.ref, target.member, args as unknown[]),
          this.#references,
        ),
      send: (payload, id) => outbox.send(payload, id, this.#references?.take(payload)),
      withdraw: (id) => outbox.withdraw(id),
      cancel: (id, reason) => outbox.send(encoder.cancel(id, reason), CONNECTION),
      credit: (id, count) => outbox.send(encoder.credit(id, count), CONNECTION),
      connected: () => this.connected,
      ending: () => this.ended,
    })
    this.#incoming = new IncomingCalls<Channel>(
      {
        channel: this,
        encoder,
        // The reserved describe method is looked up last: ordinary names find their handler first.
        lookup: (name) => this.#registry.get(name) ?? this.#shared?.get(name) ?? introspection.lookup(name),
        lookupReference: ({ ref, member }) => (this.#references ?? unreachable).registration(ref, member),
        undoOf: (payload) => this.#references?.take(payload),
        hint: (name) => notFoundHint(name, [this.#registry, this.#shared]),
        send: (payload) => outbox.send(payload, CONNECTION),
        connected: () => this.connected,
        saturated: () => outbox.saturated,
        drained: () => outbox.drained(),
        report: (error) => announce(this, 'error', error),
      },
      resolved,
    )
    // Routes and owner are ports: object literals of arrow functions, so that the parts reach the
    // channel's state without the Channel growing members that plain JavaScript could call.
    this.#connectionOwner = {
      traffic: this.#traffic,
      opened: (peer, settle) => {
        this.#incoming.peerHello(peer.options)
        encoder.peerMaxFrameSize = peer.options.maxFrameSize ?? DEFAULTS.maxFrameSize
        this.#references = openReferences(peer, resolved, encoder, this.#calls, (payload) => outbox.send(payload, CONNECTION))
        introspection.opened(peer.options)
        this.#state = 'open'
        outbox.open(this.#connection!)
        settle()
        announce(this, 'connect')
      },
      received: (message, size) => routeMessage(message, size, routes),
      drained: () => outbox.flush(),
      report: (error) => announce(this, 'error', error),
      sendFrame: (payload) => outbox.send(payload, CONNECTION),
      ended: (end) => this.#connectionEnded(end),
    }
    const routes: Routes = {
      calls: this.#calls,
      incoming: this.#incoming,
      errorClasses: resolved.errorClasses,
      references: () => this.#references,
      pong: (token) => outbox.send(encoder.pong(token), CONNECTION),
      ponged: (token) => introspection.pong(token),
      notifyFailed: (name, envelope) => announce(this, 'error', this.#calls.notifyFailed(name, envelope)),
      goodbye: () => {
        if (this.shouldReconnect(undefined)) {
          // A server that closes on purpose (a restart) is one to reconnect to, like a lost one.
          this.#connection!.closeQuietly(new ChannelClosedError('the peer closed the channel'))
        } else {
          void this.#end(undefined, false, true)
        }
      },
    }
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
    return this.#readiness.ready(this.connected, this.ended)
  }

  /** The options this channel was made with. */
  get options(): Readonly<ChannelOptions> {
    return this.#options
  }

  /**
   * Calls `name` on the peer with `args`: any values CBOR carries (primitives, BigInt, arrays, plain
   * objects, Map, Set, Date, Uint8Array, Buffer), as the result may be. Queued until the handshake.
   * @returns an InProgress that resolves with the result.
   * @throws (rejects) the peer's exception, rebuilt (`instanceof RemoteError`), or MethodNotFoundError;
   *   SerializationError when an argument cannot be encoded or exceeds the peer's `maxFrameSize`;
   *   ChannelClosedError when the channel is closed or loses its connection before the answer, or
   *   `maxQueuedCalls` calls already wait for one; BufferFullError when this side holds
   *   `maxBufferedBytes` or the peer has `maxWaitingCalls` calls waiting; TimeoutError after
   *   `callTimeout`, when set; TypeError when `name` is not a string.
   */
  rpc<T = unknown, Item = unknown, Progress = unknown>(name: string, ...args: unknown[]): InProgress<T, Item, Progress> {
    return this.#calls.start<T, Item, Progress>(name, name, args, undefined, 2)
  }

  /**
   * Calls `name` on the peer with an argument array and per-call options: an AbortSignal to cancel
   * it and a deadline. `call('add', [1, 2], { signal, timeout: 1000 })` is `rpc('add', 1, 2)` with both.
   * A signal that is already aborted rejects the call at once without sending it.
   * @throws (rejects) what {@link rpc} rejects with; TimeoutError after `options.timeout`; AbortError
   *   (with the signal's reason as `cause`) when `options.signal` aborts; TypeError when `args` is not
   *   an array; RangeError for a `timeout` that is not a number of milliseconds from 0 up.
   */
  call<T = unknown, Item = unknown, Progress = unknown>(
    name: string,
    args: readonly unknown[],
    options?: CallOptions,
  ): InProgress<T, Item, Progress> {
    return this.#calls.start<T, Item, Progress>(name, name, args, options, 2)
  }

  /**
   * Calls `name` on the peer without waiting for, or receiving, any answer. A handler that throws is
   * reported to the peer's `error` event, never to this side.
   * @throws SerializationError when an argument cannot be encoded.
   * @throws ChannelClosedError after the channel was closed, or when too many are queued while not connected.
   * @throws BufferFullError when the peer does not read and `maxBufferedBytes` is reached.
   * @throws TypeError when `name` is not a string.
   */
  notify(name: string, ...args: unknown[]): void {
    if (typeof name !== 'string') throw new TypeError(`a method name must be a string, not ${describeValue(name)}`)
    if (this.ended) throw new ChannelClosedError(`cannot notify ${JSON.stringify(name)}: the channel is closed`)
    const payload = this.#outbox.admit(this.#encoder.notify(name, args), this.#references)
    this.#outbox.send(payload, NOTIFICATION, this.#references?.take(payload))
  }

  /**
   * Makes functions callable by the peer:
   * - `expose(fn, options?)` under `fn.name`;
   * - `expose(name, fn, options?)`;
   * - `expose(plainObject, options?)`: its own function properties, called with the object as `this`;
   * - `expose(classInstance, options?)`: the methods its class marked with `@expose()`.
   * A property of the object that holds a plain object (or an instance with `@expose()` methods) is a
   * namespace: `expose({ auth: { check } })` exposes `auth.check`, at most 8 levels deep.
   * Exposing a name again replaces it. `expose<Api>(object)` checks the object against the interface
   * the caller's `remote<Api>()` uses. A handler typed to take a CallContext first is a type error
   * unless exposed with `{ context: true }`.
   * @throws TypeError for an anonymous function, an empty name or one starting with `$` (reserved for
   *   the protocol), a description that is not a string, a class instance with no `@expose()` methods,
   *   or an object whose namespaces are cyclic, nested too deep or expose one name twice.
   */
  // Ordered so that the handler forms come last: when every form fails, TypeScript shows the last
  // one's error, which then names the missing `{ context: true }`.
  expose<T extends object>(object: T & NotAFunction, options?: ExposeOptions): this
  expose<T extends object>(object: Implementation<T> & NotAFunction, options?: ExposeOptions): this
  expose(fn: ContextHandler, options: ExposeOptions & { context: true }): this
  expose<F extends Handler>(fn: PlainHandler<F>, options?: ExposeOptions & { context?: false }): this
  expose(name: string, fn: ContextHandler, options: ExposeOptions & { context: true }): this
  expose<F extends Handler>(name: string, fn: PlainHandler<F>, options?: ExposeOptions & { context?: false }): this
  expose(target: unknown, second?: unknown, third?: unknown): this {
    this.#registry.add(target, second, third)
    return this
  }

  /**
   * Removes an exposed name, or a namespace: `unexpose('auth')` removes `auth` and every `auth.*` name.
   * @returns whether anything was exposed under it on this channel.
   */
  unexpose(name: string): boolean {
    return this.#registry.delete(name)
  }

  /**
   * A typed proxy of the peer's functions: `remote<Api>().add(1, 2)` is `rpc('add', 1, 2)`, and
   * `remote<Api>().auth.check(pw)` calls the namespaced `auth.check`. Its `then` is undefined, so it can
   * be returned from an async function without being awaited as a thenable.
   * @param options a signal and a deadline for every call made through this proxy, as `call()` takes
   *   them: `remote<Api>({ signal, timeout: 5000 })`. Without them the proxy is made once and shared.
   */
  remote<T extends object>(options?: CallOptions): Remote<T> {
    // Three frames from the caller: start, this arrow, the proxy's member.
    if (options) return remoteProxy((name, args) => this.#calls.start(name, name, args, options, 3)) as Remote<T>
    this.#remote ??= remoteProxy((name, args) => this.#calls.start(name, name, args, undefined, 3))
    return this.#remote as Remote<T>
  }

  /**
   * Stops serving `target` (a function, an object passed with `ref()`, an AbortSignal) to the peer:
   * calls through the peer's stubs of it reject with ReferenceReleasedError from now on. Sent again,
   * it is a new reference. @returns whether it was exported on the current connection.
   */
  revoke(target: object): boolean {
    return this.#references?.revoke(target) ?? false
  }

  /**
   * Lists the functions the peer exposes on this channel (its server's included), like any call: each
   * with its `name`, and `description` (from `expose()`), `context`, `stream`, `parameters` where known.
   * @throws (rejects) MethodNotFoundError when the peer does not answer it (`introspection: false`
   *   there, or an older peer); ChannelClosedError as a call.
   */
  describe(): InProgress<MethodDescription[]> {
    return this.#introspection.describe(this.#state === 'open', () => this.call<MethodDescription[]>(DESCRIBE_METHOD, []))
  }

  /**
   * Measures one round trip to the peer with the protocol's ping, which every peer answers at once,
   * whatever it exposes; waits for the connection first.
   * @returns the round trip in milliseconds.
   * @throws (rejects) ChannelClosedError when closed or lost before the answer; as {@link ready} first.
   */
  async ping(): Promise<number> {
    await this.ready()
    if (this.#state !== 'open') throw new ChannelClosedError('cannot ping: the channel is closed')
    return this.#introspection.ping()
  }

  /** Counts of what this channel holds now. */
  stats(): ChannelStats {
    return statsOf({ references: this.#references, calls: this.#calls, incoming: this.#incoming, outbox: this.#outbox, traffic: this.#traffic })
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

  // For Client: reconnecting ------------------------------------------------------------------

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

  // Connections ---------------------------------------------------------------------------------

  #attach(transport: Transport, role: Role): Promise<void> {
    if (this.ended) {
      transport.destroy()
      return Promise.reject(new ChannelClosedError('the channel is closed'))
    }
    if (this.#connection) throw new Error('channel already has a transport')
    this.#state = 'handshaking'
    const connection = new Connection(transport, role, this.#resolved, this.#encoder, this.#connectionOwner)
    // Stored before the transport starts: a transport may deliver frames from start() synchronously.
    this.#connection = connection
    this.#readiness.attached(connection.ready)
    connection.start()
    return connection.ready
  }

  #connectionEnded({ reason, report, wasOpen }: ConnectionEnd): void {
    this.#connection = undefined
    const rejection = new ChannelClosedError(lostMessage(reason), reason ? { cause: reason } : undefined)
    this.#references = endReferences(this.#references, this.#encoder, rejection)
    // Calls already sent may or may not have run: they reject (at most once). Unsent ones may wait.
    const reconnecting = this.#state !== 'closing' && this.shouldReconnect(reason)
    this.#rejectAll(rejection, reconnecting)
    // State first: a listener sees a channel that is already idle (reconnecting) or closed.
    if (reconnecting) this.#state = 'idle'
    else this.#finish()
    if (wasOpen) {
      if (report && reason) announce(this, 'error', reason)
      announce(this, 'disconnect', reason)
    }
    // A listener may have closed the channel meanwhile.
    if (reconnecting && this.#state === 'idle') this.reconnect(reason)
  }

  // Ending --------------------------------------------------------------------------------------

  #end(error: Error | undefined, abortive: boolean, byPeer = false): Promise<void> {
    if (this.#state === 'closed') return this.#readiness.closed
    const connection = this.#connection
    if (this.#state !== 'closing') {
      const wasOpen = this.#state === 'open'
      this.#state = 'closing'
      connection?.closing(error)
      const rejection = closing(error, byPeer)
      this.#references = endReferences(this.#references, this.#encoder, rejection)
      if (connection && wasOpen && !abortive && !byPeer) {
        // Replies, stream frames and accepted notifications (notify() returned) still go out, ahead of
        // the goodbye; calls that were never sent are rejected below instead.
        this.#outbox.sendBeforeGoodbye()
        this.#rejectAll(rejection)
        connection.send(this.#encoder.goodbye())
      } else {
        this.#rejectAll(rejection)
      }
    }
    if (!connection) this.#finish()
    else if (abortive) connection.destroy(error)
    else connection.close()
    return this.#readiness.closed
  }

  /** Rejects pending calls and stops running handlers; with `keepUnsent`, unsent ones wait for the next connection. */
  #rejectAll(error: ChannelClosedError, keepUnsent = false): void {
    const kept = this.#outbox.detach(keepUnsent)
    this.#calls.rejectAll(error, kept)
    this.#incoming.cancelAll(error)
    this.#introspection.rejectAll(error)
  }

  #finish(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#readiness.ended()
  }
}
