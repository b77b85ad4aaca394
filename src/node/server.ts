/**
 * Server: listens on a socket path, a named pipe or a TCP (TLS) address, and makes a Channel of every
 * connection that completes the handshake, sharing its exposed functions with all of them.
 */
import { lstatSync, unlinkSync } from 'node:fs'
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { createServer as createTlsServer, type TlsOptions } from 'node:tls'
import { EventEmitter } from 'eventemitter3'
import type { PlainHandler } from '../core/api-types.js'
import {
  attachTransport,
  Channel,
  shareRegistry,
  type ChannelOptions,
  type ContextHandler,
  type Implementation,
  type NotAFunction,
} from '../core/channel.js'
import { CHANNEL_OPTION_NAMES, checkOptionNames, describe, frameSizeOf, resolveOptions } from '../core/options.js'
import { ChannelClosedError, TimeoutError } from '../core/errors.js'
import { Registry, type ExposeOptions, type Handler } from '../core/registry.js'
import { emitError } from '../core/announce.js'
import { SocketTransport } from '../transports/socket.js'
import { StreamTransport } from '../transports/stream.js'
import { NatsMembership, type NatsAddress } from './nats.js'
import { checkNatsOption, receiveLimitOf, type NatsOptions } from './nats-options.js'
import { resolveAddress, socketPathLimit, type ResolvedAddress } from './ipc-path.js'
import { addressInUse, bind, claimedPaths, pathKey, placeSocketFile, type SocketFile } from './socket-file.js'

/** Options of a {@link Server}: those of every channel it accepts, and TLS for `tcp://` addresses. */
export interface ServerOptions extends ChannelOptions {
  /**
   * Serve TLS on a `tcp://` address: Node's `tls.createServer` options (`key`, `cert`, `ca`,
   * `requestCert` and `rejectUnauthorized` for mutual TLS, ...). The secret handshake, if any, runs
   * inside the TLS connection. `handshakeTimeout` counts from the TCP connection and covers the TLS
   * handshake and the channel's together.
   * @default undefined (plain TCP)
   */
  tls?: TlsOptions
  /**
   * For a `nats://` address: how to reach the broker (credentials, TLS to the broker); see
   * {@link NatsOptions}.
   */
  nats?: NatsOptions
}

/** @internal The names of {@link ServerOptions}. */
export const SERVER_OPTION_NAMES = [...CHANNEL_OPTION_NAMES, 'tls', 'nats'] as const

/** Events of a {@link Server}. */
export interface ServerEvents {
  /** The server is bound and accepting. */
  listening: () => void
  /** A peer connected and passed the handshake (and authentication, with a secret). */
  connection: (channel: Channel) => void
  /**
   * A failure not tied to a call: a peer failed authentication or broke the protocol, a channel's
   * notification handler threw, a socket error.
   */
  error: (error: Error) => void
  /** The server stopped and every channel closed. */
  close: () => void
}

/**
 * Accepts connections on an address and makes a {@link Channel} for each. Functions exposed on the
 * server are callable on every channel, present and future.
 */
export class Server extends EventEmitter<ServerEvents> {
  readonly #requested: string
  readonly #resolved: ResolvedAddress
  readonly #options: ServerOptions
  /** The options of every channel: the server's, but `tls`. */
  readonly #channelOptions: ChannelOptions
  /** Milliseconds a connection has, from the moment it is accepted, to finish its handshakes. */
  readonly #handshakeTimeout: number
  readonly #registry = new Registry()
  readonly #channels = new Set<Channel>()
  /** Channels still in their handshake. */
  readonly #handshaking = new Set<Channel>()
  #server: NetServer | undefined
  /** For a nats:// address: this server's membership of the service. */
  #membership: NatsMembership | undefined
  /** Set once listen() has succeeded: a connection that comes earlier (to a socket's temporary name) is dropped. */
  #accepting = false
  /** The socket file this server placed at its path, to remove on close only while it is still there. */
  #socketFile: SocketFile | undefined
  /** This server's key in {@link claimedPaths}, from the start of listen() until close() or a failure. */
  #claim: string | undefined
  #closing: Promise<void> | undefined

  /**
   * @param address a socket path, a `\\.\pipe\name`, `tcp://host:port`, or `nats://host:port/service`
   *   (join the service on that NATS broker); see `ipcPath()`.
   * @throws TypeError for an address that cannot be parsed, an unknown option name or an option of the
   *   wrong type; RangeError for a number out of its range (a `handshakeTimeout` that is not a positive
   *   number of milliseconds), as `new Channel(options)` does.
   */
  constructor(address: string, options: ServerOptions = {}) {
    super()
    checkOptionNames(options, SERVER_OPTION_NAMES, 'Server')
    const { tls, nats, ...channelOptions } = options
    if (tls !== undefined && (typeof tls !== 'object' || tls === null))
      throw new TypeError(`tls must be an object of TLS options, not ${describe(tls)}`)
    checkNatsOption(nats)
    // Checked now, not when the first connection comes.
    this.#handshakeTimeout = resolveOptions(channelOptions).handshakeTimeout
    this.#requested = address
    this.#resolved = resolveAddress(address)
    this.#options = options
    this.#channelOptions = channelOptions
  }

  /**
   * The address actually bound (for `tcp://host:0`, the port picked), or the requested one before
   * listen; for a NATS service, its address.
   */
  get address(): string {
    const bound = this.#server?.address()
    if (bound && typeof bound === 'object') {
      const info = bound as AddressInfo
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
      return `tcp://${host}:${info.port}`
    }
    return this.#requested
  }

  /** The connected channels, live: a channel leaves the set when it disconnects. */
  get channels(): ReadonlySet<Channel> {
    return this.#channels
  }

  /** True between a successful `listen()` and `close()`. */
  get listening(): boolean {
    return this.#accepting && (this.#server?.listening === true || this.#membership !== undefined) && !this.#closing
  }

  /**
   * Binds and starts accepting. A stale socket file left by a dead server is replaced; an address a live
   * server holds rejects with `EADDRINUSE`. A Unix socket file is made owner-only (0600).
   * @throws (rejects) the system's error, with its `code`, when the address cannot be bound:
   *   `EADDRINUSE` when a live server holds it, `EACCES`, ...
   * @throws (rejects) RangeError for a Unix socket path longer than the platform allows (Node would
   *   bind to the path cut short); TypeError for the `tls` option with an address that is not `tcp://`.
   * @throws (rejects) ChannelClosedError when the server was closed before or while it started listening.
   */
  async listen(): Promise<void> {
    if (this.#server || this.#membership) throw new Error('listen() was already called')
    if (this.#closing) throw new ChannelClosedError('the server is closed')
    const resolved = this.#resolved
    const tls = this.#options.tls
    if (tls && resolved.kind !== 'tcp') throw new TypeError('the tls option needs a tcp:// address')
    if (resolved.kind === 'nats') {
      await this.#join(resolved)
      return
    }
    if (this.#options.nats) throw new TypeError('the nats option needs a nats:// address')
    const server = tls ? this.#tlsServer(tls) : createServer((socket) => this.#accept(socket))
    this.#server = server
    try {
      if (resolved.kind === 'unix' && !resolved.path.startsWith('\0')) {
        await this.#bindSocketFile(server, resolved.path)
      } else {
        // TCP, a named pipe, or a Linux abstract socket: the system refuses a second bind, and there
        // is no file.
        await bind(server, resolved)
        this.#bound(server)
        this.#abandonIfClosed(server)
      }
    } catch (error) {
      this.#server = undefined
      throw error
    }
    this.#accepting = true
    this.emit('listening')
  }

  /** Joins a NATS service: each connect request a member of it is handed becomes a channel. */
  async #join(address: NatsAddress): Promise<void> {
    const options = { nats: this.#options.nats, secret: resolveOptions(this.#channelOptions).secret, receiveLimit: receiveLimitOf(this.#options) }
    const membership = await NatsMembership.join(address, options, (stream) =>
      this.#accept(new StreamTransport(stream, stream, { maxFrameSize: frameSizeOf(this.#options) })),
    )
    if (this.#closing) {
      await membership.leave()
      throw new ChannelClosedError('the server was closed while it started listening')
    }
    this.#membership = membership
    this.#accepting = true
    this.emit('listening')
  }

  /** The server is listening: its errors from now on (a failed accept) are the server's 'error' events. */
  #bound(server: NetServer): void {
    // Not before: a bind failure is listen()'s to report.
    server.on('error', (error) => emitError(this, error))
  }

  /**
   * Listens on a socket file at `path`. The socket is bound under a temporary name beside it and, once
   * it accepts connections, linked to `path`: link() never replaces an existing file, so a file
   * appears at `path` only when it is live, and nothing another server placed there is overwritten.
   * A file in the way is removed only if it is a socket that refuses connections (stale), and then
   * without a window in which a live one could be removed instead (see {@link removeStale}). The
   * temporary name is removed then; libuv removes the name a socket was bound to when it closes, and
   * that is never `path`, which close() removes only while it is still this server's file. Within this
   * process the path is claimed first, so a second listen() on it fails at once.
   */
  async #bindSocketFile(server: NetServer, path: string): Promise<void> {
    const limit = socketPathLimit()
    if (Buffer.byteLength(path) > limit) {
      throw new RangeError(`socket path ${JSON.stringify(path)} is longer than ${limit} bytes`)
    }
    const key = pathKey(path)
    const holder = claimedPaths.get(key)
    if (holder instanceof Server && holder !== this && holder.#holdsPath()) throw addressInUse(path)
    claimedPaths.set(key, this)
    this.#claim = key
    try {
      this.#socketFile = await placeSocketFile(server, path, limit, {
        bound: () => this.#bound(server),
        check: () => this.#abandonIfClosed(server),
        closing: () => this.#closing !== undefined,
      })
    } catch (error) {
      this.#releaseClaim()
      throw error
    }
  }

  /**
   * A TLS server on which one deadline, counted from the TCP connection, covers the TLS handshake and
   * the channel's: TLS must finish within `handshakeTimeout` (Node's own default is 120 s, and when it
   * expires Node only reports it and leaves the connection open, so it is closed here), and the
   * channel handshake gets what is left.
   */
  #tlsServer(tls: TlsOptions): NetServer {
    const deadline = Math.min(tls.handshakeTimeout ?? Infinity, this.#handshakeTimeout)
    /** When each connection still in its TLS handshake was accepted, by its endpoints. */
    const accepted = new Map<string, { at: number }>()
    const server = createTlsServer({ ...tls, handshakeTimeout: deadline }, (socket) => {
      const key = endpoints(socket)
      const entry = key === undefined ? undefined : accepted.get(key)
      if (entry) accepted.delete(key!)
      this.#accept(socket, entry ? this.#handshakeTimeout - (performance.now() - entry.at) : undefined)
    })
    // Node wraps the TCP socket in a TLS socket before this listener runs; both have the same endpoints,
    // which no other open connection to this server shares.
    server.on('connection', (raw: Socket) => {
      const key = endpoints(raw)
      if (key === undefined) return
      const entry = { at: performance.now() }
      accepted.set(key, entry)
      raw.once('close', () => {
        if (accepted.get(key) === entry) accepted.delete(key)
      })
    })
    server.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
      socket.destroy()
      emitError(
        this,
        error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? new TimeoutError(`TLS handshake not completed within ${deadline} ms`, { cause: error }) : error,
      )
    })
    return server
  }

  /** close() ran while binding: listen() fails, and the caller undoes the bind. */
  #abandonIfClosed(server: NetServer): void {
    if (!this.#closing) return
    server.close()
    throw new ChannelClosedError('the server was closed while it started listening')
  }

  /** Whether this server is binding its socket file, or listens and its file is still at the path. */
  #holdsPath(): boolean {
    if (this.#claim === undefined) return false
    const file = this.#socketFile
    if (!file) return true
    try {
      const now = lstatSync(file.path, { bigint: true })
      return now.dev === file.dev && now.ino === file.ino
    } catch {
      return false
    }
  }

  #releaseClaim(): void {
    if (this.#claim !== undefined && claimedPaths.get(this.#claim) === this) claimedPaths.delete(this.#claim)
    this.#claim = undefined
  }

  /**
   * Removes this server's socket file, if the file at its path is still that one (same device and
   * inode): another server may have taken the path over since. Done while this server's socket is
   * still open, so that its inode cannot have been reused for a new file.
   */
  #removeSocketFile(): void {
    const file = this.#socketFile
    this.#socketFile = undefined
    if (!file) return
    try {
      const now = lstatSync(file.path, { bigint: true })
      if (now.dev === file.dev && now.ino === file.ino) unlinkSync(file.path)
    } catch {
      // Already gone: nothing to clean up.
    }
  }

  /**
   * Exposes functions on every channel of this server; the forms, namespaces and type checks are those
   * of {@link Channel.expose}.
   */
  // Ordered as Channel.expose's, for the same error messages.
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

  /** Removes a name or a namespace exposed on the server (see {@link Channel.unexpose}). @returns whether anything was exposed under it. */
  unexpose(name: string): boolean {
    return this.#registry.delete(name)
  }

  /**
   * Stops accepting, closes every channel gracefully (pending calls reject with ChannelClosedError on
   * both sides), removes the socket file and emits `close`. Idempotent.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown((channel) => channel.close()))
  }

  /** Like {@link close}, but ends every channel at once without a goodbye. Idempotent. */
  destroy(error?: Error): Promise<void> {
    return (this.#closing ??= this.#shutdown((channel) => channel.destroy(error)))
  }

  /** Same as {@link close}, for `await using server = await listen(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #shutdown(end: (channel: Channel) => Promise<void>): Promise<void> {
    const server = this.#server
    this.#removeSocketFile()
    this.#releaseClaim()
    const stopped = server?.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined
    this.#membership?.stopAccepting()
    await Promise.all([...this.#handshaking].map((channel) => channel.destroy()))
    await Promise.all([...this.#channels].map(end))
    await stopped
    await this.#membership?.leave()
    this.emit('close')
  }

  /** @param handshakeTimeout what is left of the handshake deadline, when part of it was spent on TLS. */
  #accept(socket: Socket | StreamTransport, handshakeTimeout?: number): void {
    if (this.#closing || !this.#accepting) {
      socket.destroy()
      return
    }
    const options = this.#channelOptions
    const channel = new Channel(handshakeTimeout === undefined ? options : { ...options, handshakeTimeout: Math.max(1, handshakeTimeout) })
    shareRegistry(channel, this.#registry)
    this.#handshaking.add(channel)
    channel.once('disconnect', () => this.#channels.delete(channel))
    // A channel's failures that no call receives (a protocol violation, a notification handler that
    // threw) are the server's too: one 'error' listener sees every connection.
    channel.on('error', (error) => emitError(this, error))
    const transport = socket instanceof StreamTransport ? socket : new SocketTransport(socket, { maxFrameSize: frameSizeOf(this.#options) })
    attachTransport(channel, transport, 'server').then(
      () => {
        this.#handshaking.delete(channel)
        if (!channel.connected) return
        this.#channels.add(channel)
        this.emit('connection', channel)
      },
      (error: Error) => {
        this.#handshaking.delete(channel)
        if (!isHangUp(error)) emitError(this, error)
      },
    )
  }
}

/** A TCP connection's two endpoints: no other connection open on the same listening socket has both. */
function endpoints(socket: Socket): string | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = socket
  if (remoteAddress === undefined || remotePort === undefined) return undefined
  return `${localAddress}|${localPort}|${remoteAddress}|${remotePort}`
}

/**
 * A peer that hung up during the handshake: a liveness probe (such as a losing listen() checking that
 * this server is alive) or a client that gave up. Depending on timing the hang-up surfaces as a closed
 * channel, or as EPIPE or ECONNRESET when this side's hello meets the closed socket. Not an error.
 */
function isHangUp(error: Error): boolean {
  if (error instanceof ChannelClosedError) return true
  const code = (error as NodeJS.ErrnoException).code
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'ECONNABORTED'
}

/**
 * Makes a {@link Server} and waits for it to listen.
 * @throws what the {@link Server} constructor throws, and (rejects) what {@link Server.listen} rejects with.
 */
export async function listen(address: string, options?: ServerOptions): Promise<Server> {
  const server = new Server(address, options)
  await server.listen()
  return server
}
