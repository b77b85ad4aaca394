/**
 * Client: a Channel that connects to a Server's address, queues calls until the handshake is done,
 * and, with `reconnect`, tries again with backoff when the connection cannot be made or is lost.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import pDefer, { type DeferredPromise } from 'p-defer'
import { attachTransport, Channel, type ChannelEvents, type ChannelOptions } from '../core/channel.js'
import { CHANNEL_OPTION_NAMES, checkOptionNames, describe, frameSizeOf, milliseconds, resolveOptions } from '../core/options.js'
import { AuthenticationError, ChannelClosedError, ProtocolError } from '../core/errors.js'
import type { Transport } from '../core/transport.js'
import { SocketTransport } from '../transports/socket.js'
import { StreamTransport } from '../transports/stream.js'
import { dialNats, type NatsAddress } from './nats.js'
import { checkNatsOption, receiveLimitOf, type NatsOptions } from './nats-options.js'
import { resolveAddress, type ResolvedAddress } from './ipc-path.js'

/** Backoff of a reconnecting client. */
export interface ReconnectOptions {
  /**
   * Milliseconds before the first retry; each further retry doubles it, with random jitter of up to
   * half the delay subtracted so that many clients do not retry in step.
   * @default 100
   */
  initialDelay?: number
  /**
   * Longest delay between two attempts, in milliseconds.
   * @default 5000
   */
  maxDelay?: number
  /**
   * Retries after a failure before the client gives up (counted since the last success): queued calls reject with
   * ChannelClosedError and `ready()` rejects. Infinity retries for ever.
   * @default Infinity
   */
  maxAttempts?: number
}

/** Options of a {@link Client}. */
export interface ClientOptions extends ChannelOptions {
  /**
   * Reconnect when the connection cannot be made or is lost. The same Client keeps its exposed
   * functions, listeners and queued calls; calls in flight when the connection died reject (they are
   * never sent twice). An AuthenticationError or ProtocolError is final: no retry.
   * @default false
   */
  reconnect?: boolean | ReconnectOptions
  /**
   * Connect with TLS to a `tcp://` address: Node's `tls.connect` options (`ca` to trust a private CA,
   * `cert` and `key` for mutual TLS, `servername`, ...). Certificates are verified unless
   * `rejectUnauthorized: false` is given.
   * @default undefined (plain TCP)
   */
  tls?: ConnectionOptions
  /**
   * For a `nats://` address: how to reach the broker (credentials, TLS to the broker); see
   * {@link NatsOptions}.
   */
  nats?: NatsOptions
}

/** Events of a {@link Client}: those of every channel; `reconnecting` is emitted by clients only. */
export type ClientEvents = ChannelEvents

const noop = (): void => {}

/**
 * A Channel that connects to a Server. It starts connecting as soon as it is made; calls made before
 * the handshake completes are queued and sent after it.
 */
export class Client extends Channel {
  readonly #resolved: ResolvedAddress
  readonly #address: string
  readonly #reconnect: Required<ReconnectOptions> | undefined
  /** The socket of the attempt under way, until it is handed to a transport. */
  #connecting: Socket | undefined
  /** The current connection cycle: resolves on success, rejects when the client gives up. */
  #cycle: DeferredPromise<void>
  /** Failed attempts since the last successful handshake. */
  #failures = 0
  /** The current cycle has resolved (a connection was made): a loss starts a new one. */
  #cycleResolved = false
  #retryTimer: ReturnType<typeof setTimeout> | undefined

  /**
   * @param address a socket path, a `\\.\pipe\name`, `tcp://host:port`, or `nats://host:port/service`
   *   (a channel to one live member of the service); see `ipcPath()`.
   * @throws TypeError for an address that cannot be parsed, an unknown option name, an option of the
   *   wrong type, `tls` with an address that is not `tcp://`, or `nats` with one that is not `nats://`;
   *   RangeError for a number out of its range, as `new Channel(options)` does.
   */
  constructor(address: string, options: ClientOptions = {}) {
    super(options)
    checkOptionNames(options, CLIENT_OPTION_NAMES, 'Client')
    this.#address = address
    this.#resolved = resolveAddress(address)
    if (options.tls && this.#resolved.kind !== 'tcp') throw new TypeError('the tls option needs a tcp:// address')
    checkNatsOption(options.nats)
    if (options.nats && this.#resolved.kind !== 'nats') throw new TypeError('the nats option needs a nats:// address')
    this.#reconnect = resolveReconnect(options.reconnect)
    this.#cycle = this.#newCycle()
    this.#dial()
  }

  /** The address this client connects to. */
  get address(): string {
    return this.#address
  }

  /**
   * Settles with the current connection attempt: resolves once the handshake (and authentication)
   * succeeded; rejects with the socket error (`ECONNREFUSED`, `ENOENT`, ...), an AuthenticationError,
   * a ProtocolError or a TimeoutError. With `reconnect`, it waits through retries and rejects only when
   * the client gives up; after a lost connection it settles with the next one.
   */
  override ready(): Promise<void> {
    return this.#cycle.promise
  }

  override close(): Promise<void> {
    this.#stopConnecting(new ChannelClosedError('the client was closed before it connected'))
    return super.close()
  }

  override destroy(error?: Error): Promise<void> {
    this.#stopConnecting(error ?? new ChannelClosedError('the client was destroyed before it connected'))
    return super.destroy(error)
  }

  /** @internal */
  protected override shouldReconnect(reason: Error | undefined): boolean {
    return this.#mayRetry(reason)
  }

  /** @internal */
  protected override reconnect(reason: Error | undefined): void {
    this.#scheduleRetry(reason)
  }

  #newCycle(): DeferredPromise<void> {
    const cycle = pDefer<void>()
    // Nobody has to call ready(): a failed attempt must not become an unhandled rejection.
    cycle.promise.catch(noop)
    return cycle
  }

  #stopConnecting(error: Error): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#connecting?.destroy()
    this.#connecting = undefined
    this.#cycle.reject(error)
  }

  #dial(): void {
    const resolved = this.#resolved
    if (resolved.kind === 'nats') {
      this.#dialNats(resolved)
      return
    }
    const tls = (this.options as ClientOptions).tls
    const socket =
      resolved.kind !== 'tcp'
        ? netConnect(resolved.path)
        : tls
          ? tlsConnect({ servername: isIp(resolved.host) ? undefined : resolved.host, ...tls, host: resolved.host, port: resolved.port })
          : netConnect(resolved.port, resolved.host)
    this.#connecting = socket
    const onError = this.#failedAttempt(this.#cycle)
    socket.once('error', onError)
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      socket.off('error', onError)
      this.#connecting = undefined
      this.#attach(new SocketTransport(socket, { maxFrameSize: frameSizeOf(this.options) }))
    })
  }

  /** A connect request to the service, on a broker connection of the attempt's own. */
  #dialNats(address: NatsAddress): void {
    const cycle = this.#cycle
    const options = this.options as ClientOptions
    const resolved = resolveOptions(options)
    const attempt = dialNats(address, {
      nats: options.nats,
      secret: resolved.secret,
      receiveLimit: receiveLimitOf(options),
      timeout: resolved.handshakeTimeout,
    })
    attempt.then((stream) => {
      // Closed or destroyed meanwhile: #stopConnecting had nothing to stop yet.
      if (this.ended || cycle !== this.#cycle) {
        stream.destroy()
        return
      }
      this.#attach(new StreamTransport(stream, stream, { maxFrameSize: frameSizeOf(options) }))
    }, this.#failedAttempt(cycle))
  }

  /** What a failed connection attempt does: retry, or fail the cycle and the queued calls. */
  #failedAttempt(cycle: DeferredPromise<void>): (error: Error) => void {
    return (error) => {
      if (this.ended) return
      if (this.#mayRetry(error)) {
        this.#scheduleRetry(error)
      } else {
        cycle.reject(error)
        this.failWithoutTransport(error)
      }
    }
  }

  /** The connection is made: the channel's handshake runs over it. */
  #attach(transport: Transport): void {
    const cycle = this.#cycle
    attachTransport(this, transport, 'client').then(
      () => {
        this.#failures = 0
        this.#cycleResolved = true
        cycle.resolve()
      },
      // Without a retry, the failure is the cycle's; with one, shouldReconnect has already taken over.
      (error: Error) => {
        if (this.#retryTimer === undefined) cycle.reject(error)
      },
    )
  }

  #mayRetry(reason: Error | undefined): boolean {
    if (!this.#reconnect || this.ended) return false
    // A wrong secret or a foreign peer will not get better by retrying.
    if (reason instanceof AuthenticationError || reason instanceof ProtocolError) return false
    return this.#failures < this.#reconnect.maxAttempts
  }

  #scheduleRetry(_reason: Error | undefined): void {
    const options = this.#reconnect!
    // A cycle that succeeded is over; ready() now waits for the next connection.
    if (this.#cycleResolved) {
      this.#cycle = this.#newCycle()
      this.#cycleResolved = false
    }
    const attempt = ++this.#failures
    const base = Math.min(options.maxDelay, options.initialDelay * 2 ** (attempt - 1))
    const delay = Math.round(base - Math.random() * base * 0.5)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      if (!this.ended) this.#dial()
    }, delay)
    this.emit('reconnecting', { attempt, delay })
  }
}

/** @internal The names of {@link ClientOptions}. */
export const CLIENT_OPTION_NAMES = [...CHANNEL_OPTION_NAMES, 'reconnect', 'tls', 'nats'] as const

/** The reconnect option with its defaults, checked; undefined when off. */
function resolveReconnect(reconnect: ClientOptions['reconnect']): Required<ReconnectOptions> | undefined {
  if (reconnect === undefined || reconnect === false) return undefined
  if (reconnect === true) return { initialDelay: 100, maxDelay: 5000, maxAttempts: Infinity }
  if (typeof reconnect !== 'object' || reconnect === null) {
    throw new TypeError(`reconnect must be a boolean or { initialDelay, maxDelay, maxAttempts }, not ${describe(reconnect)}`)
  }
  checkOptionNames(reconnect, ['initialDelay', 'maxDelay', 'maxAttempts'], 'reconnect')
  const maxAttempts = reconnect.maxAttempts ?? Infinity
  if (typeof maxAttempts !== 'number' || !(Number.isSafeInteger(maxAttempts) || maxAttempts === Infinity) || maxAttempts < 0) {
    throw new RangeError(`reconnect.maxAttempts must be a whole number of at least 0 (or Infinity), not ${describe(maxAttempts)}`)
  }
  return {
    initialDelay: milliseconds('reconnect.initialDelay', reconnect.initialDelay, 100, true),
    maxDelay: milliseconds('reconnect.maxDelay', reconnect.maxDelay, 5000, true),
    maxAttempts,
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}

/**
 * Makes a {@link Client} and waits until it is ready.
 * @throws what the {@link Client} constructor throws, and (rejects) what {@link Client.ready} rejects
 *   with; the client is destroyed first.
 */
export async function connect(address: string, options?: ClientOptions): Promise<Client> {
  const client = new Client(address, options)
  try {
    await client.ready()
  } catch (error) {
    await client.destroy()
    throw error
  }
  return client
}
