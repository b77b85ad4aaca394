/**
 * NATS addresses (PROTOCOL.md chapter 19): the optional client, loaded on first use; a Server's
 * membership of a service, a queue subscription that answers connect requests; and a Client's dial,
 * one connect request answered by one live member.
 */
import { randomBytes } from 'node:crypto'
import type { ConnectionOptions, Msg, NatsConnection, NatsError, Subscription } from 'nats'
import { AuthenticationError, ChannelClosedError, ProtocolError, TimeoutError } from '../core/errors.js'
import type { NatsOptions } from './nats-options.js'
import { deriveKeys, NatsStream, proves, type NatsKeys } from '../transports/nats.js'

/** Where a nats:// address leads. */
export interface NatsAddress {
  readonly host: string
  readonly port: number
  readonly service: string
}

/** What a member or a dialling client needs beyond the address. */
export interface NatsLinkOptions {
  readonly nats: NatsOptions | undefined
  readonly secret: Uint8Array | undefined
  /** Bytes a peer may get ahead of the channel's reading (see NatsStream). */
  readonly receiveLimit: number
}

/** Version of the connect request and reply. */
const CONNECT_VERSION = 1
/** A connect request or reply is a small JSON object; anything larger is not one. */
const MAX_CONNECT_BYTES = 1024
const NONCE_SIZE = 16
/** A channel subject: `_ipc.` and 22 characters of base64url, 128 random bits. */
const CHANNEL_SUBJECT = /^_ipc\.[A-Za-z0-9_-]{22}$/

type NatsModule = typeof import('nats')
let loading: Promise<NatsModule> | undefined

/** The `nats` client, imported on first use: the package is an optional peer dependency. */
function loadNats(): Promise<NatsModule> {
  return (loading ??= import('nats').catch((error: unknown) => {
    loading = undefined
    throw new Error('nats:// addresses need the NATS client, an optional peer dependency of ipc-channel: npm install nats', {
      cause: error,
    })
  }))
}

/** Connects to the broker; a member keeps reconnecting (its channels end at once meanwhile), a client does not. */
async function connectBroker(address: NatsAddress, options: NatsOptions | undefined, member: boolean): Promise<NatsConnection> {
  const nats = await loadNats()
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  try {
    const settings: ConnectionOptions = {
      ...(options as ConnectionOptions | undefined),
      servers: `${host}:${address.port}`,
      reconnect: member,
      maxReconnectAttempts: member ? -1 : 0,
      reconnectTimeWait: 250,
    }
    // "No responders" is what tells a dead peer or an empty service: it needs headers.
    return await nats.connect(Object.assign(settings, { headers: true, noResponders: true }))
  } catch (error) {
    throw brokerError(error as NatsError, `${host}:${address.port}`)
  }
}

/** The broker's refusals in the terms of a socket's, so that `code` and the reconnect logic read alike. */
function brokerError(error: NatsError, where: string): Error {
  const code = String(error.code)
  if (code === 'CONNECTION_REFUSED') {
    return Object.assign(new Error(`connect ECONNREFUSED: no NATS broker at ${where}`, { cause: error }), { code: 'ECONNREFUSED' })
  }
  if (code === 'AUTHORIZATION_VIOLATION' || code === 'AUTHENTICATION_EXPIRED') {
    return new AuthenticationError(`the NATS broker at ${where} refused the credentials`, { cause: error })
  }
  return error
}

function newSubject(): string {
  return `_ipc.${randomBytes(16).toString('base64url')}`
}

/** Reads a connect request or reply: undefined for anything that is not one. */
function parseConnect(data: Uint8Array): Record<string, unknown> | undefined {
  if (data.byteLength > MAX_CONNECT_BYTES) return undefined
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(data))
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { v?: unknown }).v === CONNECT_VERSION) {
      return value as Record<string, unknown>
    }
  } catch {
    // Not JSON: not a connect message.
  }
  return undefined
}

function encodeConnect(value: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: CONNECT_VERSION, ...value }))
}

function parseBytes(value: unknown, size: number): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined
  const bytes = Buffer.from(value, 'base64url')
  return bytes.byteLength === size ? bytes : undefined
}

function parseNonce(value: unknown): Uint8Array | undefined {
  return parseBytes(value, NONCE_SIZE)
}

function base64url(bytes: Uint8Array | undefined): string | undefined {
  return bytes && Buffer.from(bytes).toString('base64url')
}

/**
 * A Server's membership of a service: a queue subscription on the service's subject, so that the
 * broker hands each connect request to one member, and a channel subject for each accepted channel.
 */
export class NatsMembership {
  readonly #connection: NatsConnection
  readonly #subscription: Subscription
  readonly #options: NatsLinkOptions
  readonly #accept: (stream: NatsStream) => void
  readonly #streams = new Set<NatsStream>()

  private constructor(connection: NatsConnection, address: NatsAddress, options: NatsLinkOptions, accept: (stream: NatsStream) => void) {
    this.#connection = connection
    this.#options = options
    this.#accept = accept
    this.#subscription = connection.subscribe(address.service, {
      queue: address.service,
      callback: (error, message) => {
        if (!error) this.#request(message)
      },
    })
    void this.#watch()
  }

  /**
   * Joins the service at `address`; `accept` receives the stream of each channel a client opens.
   * @throws Error with `code` ECONNREFUSED when no broker answers; AuthenticationError when the broker
   *   refuses the credentials.
   */
  static async join(address: NatsAddress, options: NatsLinkOptions, accept: (stream: NatsStream) => void): Promise<NatsMembership> {
    const connection = await connectBroker(address, options.nats, true)
    const membership = new NatsMembership(connection, address, options, accept)
    // The subscription is in place at the broker once the flush returns: a connect() after listen()
    // reaches this member.
    await connection.flush()
    return membership
  }

  /** Losing the broker ends every channel at once: their frames in flight are gone, and nothing may wait on them. */
  async #watch(): Promise<void> {
    for await (const status of this.#connection.status()) {
      if (status.type !== 'disconnect') continue
      for (const stream of this.#streams) stream.destroy(new ChannelClosedError('the connection to the NATS broker was lost'))
    }
  }

  #request(message: Msg): void {
    if (!message.reply) return
    const request = parseConnect(message.data)
    if (!request || typeof request.subject !== 'string' || !CHANNEL_SUBJECT.test(request.subject)) {
      message.respond(encodeConnect({ error: 'malformed connect request' }))
      return
    }
    const secret = this.#options.secret
    const clientNonce = parseNonce(request.nonce)
    if (Boolean(secret) !== (clientNonce !== undefined)) {
      const error = secret ? 'the service requires a secret and none was given' : 'a secret was given but the service does not authenticate'
      message.respond(encodeConnect({ error, code: 'EAUTH' }))
      return
    }
    const stream = new NatsStream({ connection: this.#connection, subject: newSubject(), receiveLimit: this.#options.receiveLimit })
    const memberNonce = secret ? randomBytes(NONCE_SIZE) : undefined
    const keys =
      secret && clientNonce && memberNonce
        ? deriveKeys(secret, { clientNonce, memberNonce, clientSubject: request.subject, memberSubject: stream.subject }, 'member')
        : undefined
    stream.connectTo({ subject: request.subject, keys })
    this.#streams.add(stream)
    stream.once('close', () => this.#streams.delete(stream))
    // The reply leaves before the channel's hello, on the same connection: the broker keeps their order.
    message.respond(encodeConnect({ subject: stream.subject, nonce: base64url(memberNonce), proof: base64url(keys?.proof) }))
    this.#accept(stream)
  }

  /** Stops taking connect requests; channels already accepted go on until closed. */
  stopAccepting(): void {
    if (!this.#connection.isClosed()) this.#subscription.unsubscribe()
  }

  /** Leaves the broker once everything published has reached it. */
  async leave(): Promise<void> {
    this.stopAccepting()
    if (this.#connection.isClosed()) return
    await this.#connection.flush().catch(() => {})
    await this.#connection.close()
  }
}

/**
 * Opens a channel's stream to one live member of the service at `address`, on a broker connection of
 * its own that the stream closes when it ends.
 * @throws Error with `code` ECONNREFUSED when no broker answers or no member listens; AuthenticationError
 *   when the broker refuses the credentials or the secrets do not match; TimeoutError when no member
 *   answers within `timeout`.
 */
export async function dialNats(address: NatsAddress, options: NatsLinkOptions & { timeout: number }): Promise<NatsStream> {
  const connection = await connectBroker(address, options.nats, false)
  const stream = new NatsStream({ connection, subject: newSubject(), receiveLimit: options.receiveLimit })
  stream.once('close', () => void connection.close())
  void connection.closed().then(() => stream.destroy(new ChannelClosedError('the connection to the NATS broker was lost')))
  try {
    stream.connectTo(await request(connection, address, stream.subject, options))
    return stream
  } catch (error) {
    stream.destroy()
    throw error
  }
}

async function request(
  connection: NatsConnection,
  address: NatsAddress,
  subject: string,
  options: NatsLinkOptions & { timeout: number },
): Promise<{ subject: string; keys: NatsKeys | undefined }> {
  const secret = options.secret
  const clientNonce = secret ? randomBytes(NONCE_SIZE) : undefined
  let answer: Msg
  try {
    // Subscribed before asking: the member's hello may follow its reply at once.
    await connection.flush()
    answer = await connection.request(address.service, encodeConnect({ subject, nonce: clientNonce?.toString('base64url') }), {
      timeout: options.timeout,
    })
  } catch (error) {
    const code = String((error as NatsError).code)
    if (code === '503') {
      throw Object.assign(new Error(`connect ECONNREFUSED: no member of ${address.service} is listening`, { cause: error }), {
        code: 'ECONNREFUSED',
      })
    }
    if (code === 'TIMEOUT') throw new TimeoutError(`no member of ${address.service} answered within ${options.timeout} ms`, { cause: error })
    throw error
  }
  const reply = parseConnect(answer.data)
  if (!reply) throw new ProtocolError(`the member of ${address.service} sent a malformed connect reply`)
  if (typeof reply.error === 'string') {
    const message = `${address.service} refused the channel: ${reply.error}`
    throw reply.code === 'EAUTH' ? new AuthenticationError(message) : new ProtocolError(message)
  }
  if (typeof reply.subject !== 'string' || !CHANNEL_SUBJECT.test(reply.subject)) {
    throw new ProtocolError(`the member of ${address.service} sent a malformed connect reply`)
  }
  const memberNonce = parseNonce(reply.nonce)
  if (secret && !memberNonce) throw new AuthenticationError('a secret was given but the service does not authenticate')
  if (!secret && memberNonce) throw new AuthenticationError('the service requires a secret and none was given')
  const keys =
    secret && clientNonce && memberNonce
      ? deriveKeys(secret, { clientNonce, memberNonce, clientSubject: subject, memberSubject: reply.subject }, 'client')
      : undefined
  // Without this check a wrong secret would only show as messages dropped for their HMAC, and the
  // handshake would wait out its timeout.
  if (keys && !proves(keys, parseBytes(reply.proof, keys.proof.byteLength))) {
    throw new AuthenticationError(`the member of ${address.service} failed to prove the secret`)
  }
  return { subject: reply.subject, keys }
}
