/**
 * The NATS carrier of one channel (PROTOCOL.md chapter 19): the channel's byte stream, cut into
 * numbered messages on a pair of private subjects, authenticated per message when a secret is set,
 * and ended as soon as the broker says the peer's subject has no subscriber.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { Duplex } from 'node:stream'
import type { Msg, NatsConnection, NatsError, Subscription } from 'nats'
import { ProtocolError } from '../core/errors.js'

/** A message carrying bytes of the stream. */
const KIND_DATA = 1
/** A message carrying nothing, sent only to learn whether the peer's subject still has a subscriber. */
const KIND_PROBE = 2
/** Kind (1 byte) and sequence number (8 bytes, big-endian). */
const HEADER_SIZE = 9
/** Bytes of HMAC-SHA256 kept per message. */
const MAC_SIZE = 16
/** What a message adds to the bytes it carries, with room for NATS's own per-message overhead. */
const PIECE_RESERVE = 256
/**
 * How often an idle side probes its peer. A peer that is gone is noticed within two periods and a
 * round trip: the default lets a dead member fail its calls well within a second.
 */
export const PROBE_INTERVAL = 250
/** Bytes published before the next write waits until the broker has them (a NATS flush). */
const FLUSH_AFTER = 4 * 1024 * 1024
/** Messages that may arrive before the connect reply names the peer (its hello, sent right behind). */
const EARLY_LIMIT = 64

/** The two per-direction keys a secret gives a channel (see {@link deriveKeys}). */
export interface NatsKeys {
  readonly send: Uint8Array
  readonly receive: Uint8Array
  /** What the member's connect reply carries to show it holds the same secret. */
  readonly proof: Uint8Array
}

/** Where a channel's messages go, once the peer is known. */
export interface NatsPeer {
  /** The subject the peer reads. */
  readonly subject: string
  /** Keys from the secret, or undefined without one. */
  readonly keys: NatsKeys | undefined
}

/** Options of a {@link NatsStream}. */
export interface NatsStreamOptions {
  readonly connection: NatsConnection
  /** The subject this side reads, private to the channel. */
  readonly subject: string
  /** Bytes the peer may get ahead of this side's reading before the channel is ended. */
  readonly receiveLimit: number
}

/** The peer's subject has no subscriber any more: it closed, crashed or lost the broker. */
export function peerGone(): Error {
  return Object.assign(new Error('the peer is gone: its NATS subject has no subscriber'), { code: 'ECONNRESET' })
}

/**
 * A duplex over NATS that a StreamTransport frames the channel on, as it does on a socket. Written
 * bytes leave in messages of at most the broker's `max_payload`; each carries the next sequence
 * number, so a message the broker dropped (a slow consumer) ends the channel instead of leaving a
 * hole, and, with keys, an HMAC that a third client cannot forge: its messages and replays are
 * dropped unread. Every message names this side's subject as its reply subject, so publishing to a
 * peer that is gone brings back the broker's "no responders" status at once; an idle side probes.
 */
export class NatsStream extends Duplex {
  readonly #connection: NatsConnection
  readonly #subject: string
  readonly #subscription: Subscription
  readonly #receiveLimit: number
  readonly #pieceSize: number
  #peer: NatsPeer | undefined
  /** Messages that came before the peer was known, checked once it is. */
  #early: Msg[] | undefined = []
  #sendSequence = 0
  #receiveSequence = 0
  /** Something was published since the last probe tick: it probes as well as a probe would. */
  #published = false
  #unflushed = 0
  readonly #probeTimer: ReturnType<typeof setInterval>
  /** Messages dropped because their HMAC was wrong or they were replays. */
  rejected = 0

  constructor(options: NatsStreamOptions) {
    super({ allowHalfOpen: false })
    this.#connection = options.connection
    this.#subject = options.subject
    this.#receiveLimit = options.receiveLimit
    this.#pieceSize = Math.max(1024, options.connection.info!.max_payload - PIECE_RESERVE)
    this.#subscription = options.connection.subscribe(options.subject, {
      callback: (error, message) => this.#receive(error, message),
    })
    this.#probeTimer = setInterval(() => this.#probe(), PROBE_INTERVAL)
    this.#probeTimer.unref()
  }

  /** The subject this side reads. */
  get subject(): string {
    return this.#subject
  }

  /** Names the peer: messages are sent to it from now on, and those that came early are read. */
  connectTo(peer: NatsPeer): void {
    this.#peer = peer
    const early = this.#early!
    this.#early = undefined
    for (const message of early) this.#receive(null, message)
  }

  #receive(error: NatsError | null, message: Msg): void {
    if (this.destroyed) return
    if (error) {
      this.destroy(error)
      return
    }
    const data = message.data
    if (data.byteLength === 0) {
      // A status from the broker: 503 is "no responders", the peer's subject has no subscriber.
      if (message.headers?.code === 503) this.destroy(peerGone())
      return
    }
    if (this.#early) {
      if (this.#early.length < EARLY_LIMIT) this.#early.push(message)
      return
    }
    // A probe carries nothing and asks for nothing: whoever sent it, it is ignored.
    if (data[0] === KIND_PROBE) return
    const keys = this.#peer!.keys
    const end = keys ? data.byteLength - MAC_SIZE : data.byteLength
    if (end < HEADER_SIZE || data[0] !== KIND_DATA) {
      this.#reject(keys, 'a NATS message of unknown kind')
      return
    }
    if (keys && !verify(keys.receive, data, end)) {
      this.#reject(keys, 'a NATS message with a wrong HMAC')
      return
    }
    const sequence = readSequence(data)
    if (sequence !== this.#receiveSequence) {
      if (keys && sequence < this.#receiveSequence) {
        // A replay of an authentic message: harmless once dropped.
        this.rejected++
        return
      }
      const lost = sequence - this.#receiveSequence
      this.destroy(
        new ProtocolError(
          lost > 0 ? `${lost} NATS message(s) from the peer were lost (a slow consumer?)` : `NATS message ${sequence} arrived twice or out of order`,
        ),
      )
      return
    }
    this.#receiveSequence++
    // Not copied: the client hands out views of the socket's chunks, which Node never reuses.
    this.push(data.subarray(HEADER_SIZE, end))
    if (this.readableLength > this.#receiveLimit) {
      this.destroy(new ProtocolError(`the peer sent more than ${this.#receiveLimit} bytes ahead of this side's reading`))
    }
  }

  /** Without keys nothing tells a forgery from the peer's own mistake: the channel ends. With keys it is dropped. */
  #reject(keys: NatsKeys | undefined, what: string): void {
    if (keys) this.rejected++
    else this.destroy(new ProtocolError(`received ${what}`))
  }

  #probe(): void {
    if (this.#published || !this.#peer || this.destroyed) {
      this.#published = false
      return
    }
    const probe = new Uint8Array(HEADER_SIZE)
    probe[0] = KIND_PROBE
    this.#publish(probe)
  }

  #publish(message: Uint8Array): void {
    this.#connection.publish(this.#peer!.subject, message, { reply: this.#subject })
  }

  override _read(): void {
    // Messages are pushed as they come: NATS cannot be asked to wait (see receiveLimit).
  }

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send([chunk], callback)
  }

  override _writev(chunks: { chunk: Uint8Array }[], callback: (error?: Error | null) => void): void {
    this.#send(
      chunks.map((entry) => entry.chunk),
      callback,
    )
  }

  /** Cuts the chunks into messages of at most a piece each, copying each byte once. */
  #send(chunks: readonly Uint8Array[], callback: (error?: Error | null) => void): void {
    if (!this.#peer || this.#connection.isClosed()) {
      callback(peerGone())
      return
    }
    let total = 0
    for (const chunk of chunks) total += chunk.byteLength
    const keys = this.#peer.keys
    const macSize = keys ? MAC_SIZE : 0
    let index = 0
    let offset = 0
    while (total > 0) {
      const size = Math.min(total, this.#pieceSize)
      const message = new Uint8Array(HEADER_SIZE + size + macSize)
      message[0] = KIND_DATA
      writeSequence(message, this.#sendSequence++)
      let at = HEADER_SIZE
      while (at < HEADER_SIZE + size) {
        const chunk = chunks[index]
        const take = Math.min(chunk.byteLength - offset, HEADER_SIZE + size - at)
        message.set(offset === 0 && take === chunk.byteLength ? chunk : chunk.subarray(offset, offset + take), at)
        at += take
        offset += take
        if (offset === chunk.byteLength) {
          index++
          offset = 0
        }
      }
      if (keys) message.set(mac(keys.send, message, at), at)
      this.#publish(message)
      total -= size
      this.#unflushed += message.byteLength
    }
    this.#published = true
    if (this.#unflushed < FLUSH_AFTER) {
      callback()
      return
    }
    // The broker has not acknowledged the last few MiB: wait until it has, so that a fast writer
    // feels backpressure instead of filling this process's memory.
    this.#unflushed = 0
    this.#connection.flush().then(
      () => callback(),
      (error: Error) => callback(error),
    )
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Ending the subscription is the goodbye NATS can see: the peer's next message or probe brings
    // back "no responders".
    this.#stop()
    this.push(null)
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stop()
    callback(error)
  }

  #stop(): void {
    clearInterval(this.#probeTimer)
    this.#early = undefined
    if (!this.#connection.isClosed()) this.#subscription.unsubscribe()
  }
}

/**
 * The keys of one channel: HMAC-SHA256 under the secret of everything the connect request and reply
 * exchanged, then one key per direction (PROTOCOL.md 19.4).
 */
export function deriveKeys(
  secret: Uint8Array,
  exchange: { clientNonce: Uint8Array; memberNonce: Uint8Array; clientSubject: string; memberSubject: string },
  side: 'client' | 'member',
): NatsKeys {
  const master = createHmac('sha256', secret)
    .update('ipc-channel nats 1\0')
    .update(exchange.clientNonce)
    .update(exchange.memberNonce)
    .update(`${exchange.clientSubject}\0${exchange.memberSubject}`)
    .digest()
  const client = createHmac('sha256', master).update('client to member').digest()
  const member = createHmac('sha256', master).update('member to client').digest()
  const proof = createHmac('sha256', master).update('member proof').digest()
  return side === 'client' ? { send: client, receive: member, proof } : { send: member, receive: client, proof }
}

/** Whether `proof` is the one `keys` expect, in constant time. */
export function proves(keys: NatsKeys, proof: Uint8Array | undefined): boolean {
  return proof !== undefined && proof.byteLength === keys.proof.byteLength && timingSafeEqual(proof, keys.proof)
}

function mac(key: Uint8Array, message: Uint8Array, end: number): Uint8Array {
  return createHmac('sha256', key).update(message.subarray(0, end)).digest().subarray(0, MAC_SIZE)
}

function verify(key: Uint8Array, message: Uint8Array, end: number): boolean {
  return timingSafeEqual(mac(key, message, end), message.subarray(end, end + MAC_SIZE))
}

function writeSequence(message: Uint8Array, sequence: number): void {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength)
  view.setUint32(1, Math.floor(sequence / 2 ** 32))
  view.setUint32(5, sequence >>> 0)
}

function readSequence(message: Uint8Array): number {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength)
  return view.getUint32(1) * 2 ** 32 + view.getUint32(5)
}
