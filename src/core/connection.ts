/**
 * One transport's life (PROTOCOL.md chapters 5, 11 and 12): the gate before the handshake (byte cap,
 * allowed types, frame limit), the handshake itself, the one-macrotask backlog behind it, the
 * heartbeat, pausing reads, and why it ended. Made when a transport is attached, dropped when it closes.
 */
import type { MessageEncoder } from '../protocol/encoder.js'
import { decodeHandshake } from '../protocol/handshake-decoder.js'
import { isWhole, joinPayload, payloadHead, payloadLength, type Payload } from '../protocol/framing.js'
import { isHandshakeMessage, MessageType, parseMessage, peekMessageType, type Message } from '../protocol/messages.js'
import { DESCRIBE_FEATURE } from '../protocol/introspection.js'
import { REFERENCES_FEATURE } from '../protocol/references.js'
import { ChannelClosedError, ProtocolError, TimeoutError } from './errors.js'
import { Handshake, negotiateFeatures, type PeerInfo, type Role } from './handshake.js'
import { Heartbeat } from './heartbeat.js'
import type { ResolvedOptions } from './options.js'
import type { OutboxSink } from './outbox.js'
import { Tracer } from './trace.js'
import type { Transport, TransportSink } from './transport.js'
import type { Traffic } from './channel-events.js'

/** How a connection ended, as its owner is told once. */
export interface ConnectionEnd {
  /** Why: the failure this side detected, the transport's error, or undefined after a close(). */
  readonly reason: Error | undefined
  /** The reason is a failure this side detected (protocol, handshake, heartbeat) and is worth an `error` event. */
  readonly report: boolean
  /** The handshake had completed. */
  readonly wasOpen: boolean
}

/**
 * The channel's side of a connection. Calls arrive in this order: at most one `opened`, then any number
 * of `received` and `drained`, then exactly one `ended`; none after `ended`.
 */
export interface ConnectionOwner {
  /** Counts every frame in and out, for stats(). */
  readonly traffic: Traffic
  /**
   * The handshake succeeded. `settle` resolves the attach promise: the owner calls it once its own
   * state is up to date and before it tells anyone else, so that a listener that destroys the channel
   * at once does not turn a successful handshake into a rejection.
   */
  opened(peer: PeerInfo, settle: () => void): void
  /** A message arrived on the open connection, well-formed, in a frame of `size` bytes. */
  received(message: Message, size: number): void
  /** Something other than the peer failed while a message was handled: a bug worth an `error` event. */
  report(error: Error): void
  /** The transport can take more. */
  drained(): void
  /** Sends a frame of this connection (a ping) in order with the owner's own. */
  sendFrame(payload: Payload): void
  /** The transport has closed. When the handshake had not completed, `ready` has already rejected. */
  ended(end: ConnectionEnd): void
}

/** What a connection that ended without this side deciding it, and without a transport error, reports. */
export const CONNECTION_LOST = 'the connection was lost'

/** What the calls a connection took with it reject with: `reason`, said to be a lost connection once. */
export function lostMessage(reason: Error | undefined): string {
  if (!reason) return 'channel closed'
  return reason.message.startsWith(CONNECTION_LOST) ? reason.message : `${CONNECTION_LOST}: ${reason.message}`
}

/** What pending calls reject with when the channel closes: by the peer, by close(), or by destroy(error). */
export function closing(error: Error | undefined, byPeer: boolean): ChannelClosedError {
  if (byPeer) return new ChannelClosedError('the peer closed the channel')
  return new ChannelClosedError(error ? `channel destroyed: ${error.message}` : 'channel closed', error ? { cause: error } : undefined)
}

type Phase = 'handshaking' | 'open' | 'closing' | 'ended'

const noop = (): void => {}

const NO_FEATURES: ReadonlySet<string> = new Set()

/** Bytes that hold a message's array head and its first three fields when they are protocol integers. */
const MESSAGE_HEAD = 32

/** One transport, from attach to close. It is also the transport's sink and, once open, the outbox's. */
export class Connection implements TransportSink, OutboxSink {
  /** Settles with the handshake: resolves once it succeeded, rejects with what ended it. */
  readonly ready: Promise<void>
  readonly #transport: Transport
  readonly #options: ResolvedOptions
  readonly #encoder: MessageEncoder
  readonly #owner: ConnectionOwner
  #phase: Phase = 'handshaking'
  /** The handshake completed (the phase may have moved on to closing since). */
  #opened = false
  #handshake: Handshake | undefined
  /** What this side announces in its hello: the transport's features, references and describe unless they are off. */
  readonly #ownFeatures: readonly string[]
  /** The features in effect, once the peer's hello has arrived. */
  #features: ReadonlySet<string> | undefined
  #settleReady: { resolve: () => void; reject: (error: Error) => void } | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Handshake frames received and not yet processed (crypto is asynchronous). */
  #inbox: Payload[] = []
  #inboxBytes = 0
  /** The handshake is processing the inbox. */
  #busy = false
  /** The peer's last handshake frame (its auth, or its hello without a secret) has arrived. */
  #peerHandshakeSent = false
  /** The transport closed while the handshake was awaiting crypto: handled once that step is done. */
  #closedDuringHandshake: { error: Error | undefined } | undefined
  /**
   * Frames that arrived behind the peer's last handshake frame, and any after them, held until the
   * code awaiting the connection (`await connect()`, then `expose(...)`) has run.
   */
  #backlog: Payload[] | undefined
  #heartbeat: Heartbeat | undefined
  #readingPaused = false
  /**
   * Set only with the `trace` option, and then read on the handshake's path only: the traced paths of
   * the open connection are chosen once, in the constructor.
   */
  readonly #tracer: Tracer | undefined
  /** Why this side decided to end the connection; once set, nothing more from the peer counts. */
  #closeReason: { error: Error | undefined; report: boolean } | undefined

  constructor(transport: Transport, role: Role, options: ResolvedOptions, encoder: MessageEncoder, owner: ConnectionOwner) {
    this.#transport = transport
    this.#options = options
    this.#encoder = encoder
    const tracer = options.trace === undefined ? undefined : new Tracer(options.trace, (error) => owner.report(error))
    this.#tracer = tracer
    // Tracing is chosen here, once, so that an untraced connection tests nothing for it per frame: a
    // traced one hands messages to an owner that traces them first, and sends through its own send.
    if (tracer === undefined) {
      this.#owner = owner
    } else {
      this.#owner = {
        ...owner,
        received: (message, size) => {
          tracer.in(message, size)
          owner.received(message, size)
        },
      }
      const send = Connection.prototype.send
      this.send = (payload) => {
        tracer.out(payload)
        return send.call(this, payload)
      }
    }
    const features = (this.#ownFeatures = [
      ...(transport.features ?? []),
      ...(options.maxReferences > 0 ? [REFERENCES_FEATURE] : []),
      ...(options.introspection ? [DESCRIBE_FEATURE] : []),
    ])
    // No key at all when there is nothing to announce: the hello of a byte stream stays as version 1 wrote it.
    this.#handshake = new Handshake(role, options.secret, {
      window: options.streamWindow,
      maxFrameSize: options.maxFrameSize,
      ...(features.length > 0 ? { features } : undefined),
      // With the references feature (PROTOCOL.md chapter 17): how many of the peer's this side accepts.
      ...(options.maxReferences > 0 ? { maxReferences: options.maxReferences } : undefined),
      // Asks the peer to report this side's notifications that fail there (PROTOCOL.md section 5.2).
      ...(options.notifyErrors ? { notifyErrors: true } : undefined),
    })
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = { resolve, reject }
    })
    // Nobody has to await it: a failed handshake is also reported through the owner.
    this.ready.catch(noop)
  }

  /** The handshake completed and the connection is not ending. */
  get open(): boolean {
    return this.#phase === 'open'
  }

  /** The features in effect (PROTOCOL.md section 5.2): empty until the peer's hello has arrived. */
  get features(): ReadonlySet<string> {
    return this.#features ?? NO_FEATURES
  }

  /**
   * Starts the transport and sends the hello. Called once, after the owner has stored this connection:
   * a transport may deliver frames synchronously from `start`.
   */
  start(): void {
    const timeout = this.#options.handshakeTimeout
    this.#timer = setTimeout(() => this.fail(new TimeoutError(`handshake not completed within ${timeout} ms`)), timeout)
    ;(this.#timer as { unref?: () => void }).unref?.()
    // Until the peer has sent its handshake frames, no frame may be larger than the handshake cap.
    this.#transport.limitFrameSize?.(this.#options.maxHandshakeBytes)
    this.#transport.start(this)
    this.send(this.#encoder.encode(this.#handshake!.hello()))
  }

  // TransportSink -------------------------------------------------------------------------------

  message(payload: Payload): void {
    const traffic = this.#owner.traffic
    traffic.framesReceived++
    traffic.bytesReceived += payloadLength(payload)
    if (this.#closeReason !== undefined) return
    if (this.#phase === 'open') {
      const heartbeat = this.#heartbeat
      if (heartbeat !== undefined) heartbeat.heard = true
      if (this.#backlog !== undefined) this.#backlog.push(payload)
      else this.#deliver(payload)
    } else if (this.#phase === 'handshaking') {
      this.#gate(payload)
    }
  }

  closed(error?: Error): void {
    if (this.#busy) {
      // Frames the peer sent before hanging up (its auth proof) still decide why the handshake failed.
      this.#closedDuringHandshake = { error }
      return
    }
    this.#ended(error)
  }

  drain(): void {
    if (this.#phase === 'open') this.#owner.drained()
  }

  // OutboxSink ----------------------------------------------------------------------------------

  send(payload: Payload): boolean {
    const traffic = this.#owner.traffic
    traffic.framesSent++
    traffic.bytesSent += payloadLength(payload)
    return this.#transport.send(payload)
  }

  /**
   * Pauses reading while answers pile up unwritten (the peer does not read them), and resumes once the
   * outbox is back under its budget: the peer then feels its own backpressure.
   */
  backpressure(over: boolean): void {
    if (over === this.#readingPaused || !this.#transport.pause) return
    this.#readingPaused = over
    if (over) this.#transport.pause()
    else this.#transport.resume?.()
  }

  // Ending --------------------------------------------------------------------------------------

  /** A failure this side detected (protocol, handshake, heartbeat): drops the transport with it. */
  fail(error: Error): void {
    if (this.#phase === 'ended') return
    this.#closeReason ??= { error, report: true }
    this.#transport.destroy(error)
  }

  /** The peer said goodbye and the owner will connect again: ends quietly, with `reason`. */
  closeQuietly(reason: Error): void {
    this.#closeReason = { error: reason, report: false }
    this.#transport.close()
  }

  /**
   * The owner is closing: nothing more from the peer counts and the heartbeat stops. The owner may
   * still write its last frames, then calls {@link close} or {@link destroy}.
   */
  closing(error: Error | undefined): void {
    if (this.#phase === 'ended') return
    this.#phase = 'closing'
    this.#heartbeat?.stop()
    this.#closeReason ??= { error, report: false }
  }

  /** Ends after everything written so far has gone out. */
  close(): void {
    this.#transport.close()
  }

  /** Ends at once, dropping what was not written. */
  destroy(error?: Error): void {
    this.#transport.destroy(error)
  }

  // Handshake -----------------------------------------------------------------------------------

  /** Before its handshake is complete the peer may send hello, auth and goodbye only, and little. */
  #gate(payload: Payload): void {
    if (!this.#peerHandshakeSent) {
      // Handshake frames are small: one in pieces is joined, within the cap checked first.
      this.#inboxBytes += payloadLength(payload)
      const cap = this.#options.maxHandshakeBytes
      if (this.#inboxBytes > cap) {
        this.fail(new ProtocolError(`more than ${cap} bytes sent before the handshake completed`))
        return
      }
      payload = joinPayload(payload)
      const type = peekMessageType(payload)
      if (!isHandshakeMessage(type)) {
        this.fail(new ProtocolError(`message type ${type} sent before the handshake completed`))
        return
      }
      if (type === (this.#options.secret ? MessageType.Auth : MessageType.Hello)) {
        // What follows is ordinary traffic the peer sent at once (its queued calls), while this side
        // still verifies: it may be as large as any frame.
        this.#peerHandshakeSent = true
        this.#transport.limitFrameSize?.(this.#options.maxFrameSize)
      }
    }
    this.#inbox.push(payload)
    if (!this.#busy) void this.#runHandshake()
  }

  /** Feeds queued frames to the handshake one at a time (it awaits crypto), then opens. */
  async #runHandshake(): Promise<void> {
    this.#busy = true
    try {
      // A close reason set while crypto was pending means this side already failed the handshake: it
      // must not open, whatever frames are still queued.
      while (this.#inbox.length > 0 && this.#phase === 'handshaking' && !this.#closeReason) {
        // Checked against the fixed shapes on the bytes: what a hello holds beyond them is never built,
        // so an unauthenticated peer cannot make decoding it expensive.
        const frame = joinPayload(this.#inbox.shift()!)
        const message = decodeHandshake(frame)
        this.#tracer?.in(message, frame.byteLength)
        if (message[0] === MessageType.Goodbye) {
          throw new ChannelClosedError('the peer closed the connection during the handshake')
        }
        if (message[0] === MessageType.Hello && this.#features === undefined) {
          // Told at once, before the frames the peer sent behind its hello are delivered (a port
          // transport reads them differently once a feature is in effect).
          this.#features = negotiateFeatures(this.#ownFeatures, message[4].features)
          this.#transport.negotiated?.(this.#features)
        }
        const peer = await this.#handshake!.receive(message, (auth) => this.send(this.#encoder.encode(auth)))
        if (this.#phase !== 'handshaking' || this.#closeReason) return
        // A transport that closed meanwhile (an oversized frame right behind the peer's proof) ends a
        // handshake that never opens: one outcome, the failed attach, instead of an open that no one
        // sees followed at once by a disconnect. Frames still queued (the peer's proof) are checked
        // first, so that a wrong secret is still reported as such.
        if (peer && this.#closedDuringHandshake) return
        if (peer) this.#open(peer)
      }
      // Frames that arrived behind the peer's last handshake frame (the peer's first calls, sent as
      // soon as it saw our proof) wait one macrotask: whoever awaits the connection resumes in
      // microtasks and must get to expose its handlers before those calls are looked up.
      if (this.#phase === 'open' && this.#inbox.length > 0) {
        const backlog = (this.#backlog = this.#inbox)
        this.#inbox = []
        setTimeout(() => {
          if (this.#backlog !== backlog) return
          this.#backlog = undefined
          this.#drainBacklog(backlog)
        }, 0)
      }
    } catch (error) {
      this.fail(error as Error)
    } finally {
      this.#busy = false
      const closed = this.#closedDuringHandshake
      this.#closedDuringHandshake = undefined
      if (closed) this.#ended(closed.error)
    }
  }

  #open(peer: PeerInfo): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#handshake = undefined
    this.#transport.limitFrameSize?.(this.#options.maxFrameSize)
    this.#phase = 'open'
    this.#opened = true
    const heartbeat = this.#options.heartbeat
    if (heartbeat !== false) {
      this.#heartbeat = new Heartbeat(heartbeat.interval, heartbeat.timeout, {
        ping: (token) => this.#owner.sendFrame(this.#encoder.ping(token)),
        silent: (error) => this.fail(error),
      })
    }
    const settle = this.#settleReady!
    this.#settleReady = undefined
    this.#owner.opened(peer, settle.resolve)
  }

  #drainBacklog(backlog: Payload[]): void {
    for (const payload of backlog) {
      if (this.#phase !== 'open' || this.#closeReason) return
      this.#deliver(payload)
    }
  }

  #deliver(payload: Payload): void {
    try {
      if (isWhole(payload)) {
        const message = parseMessage(this.#encoder.codec.decode(payload), payload)
        this.#owner.received(message, payload.length)
        return
      }
      // In pieces: parseMessage reads ids from the bytes of the message's head, which come first.
      const message = parseMessage(this.#encoder.codec.decodePieces(payload), payloadHead(payload, MESSAGE_HEAD))
      this.#owner.received(message, payloadLength(payload))
    } catch (error) {
      // A protocol error ends this connection only; anything else is a bug of ours and is reported.
      if (error instanceof ProtocolError) this.fail(error)
      else this.#owner.report(error as Error)
    }
  }

  #ended(error: Error | undefined): void {
    if (this.#phase === 'ended') return
    const backlog = this.#backlog
    this.#backlog = undefined
    // Frames that arrived before the end (results, the peer's goodbye) still count.
    if (backlog !== undefined && this.#phase === 'open') this.#drainBacklog(backlog)
    this.#phase = 'ended'
    this.#heartbeat?.stop()
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#handshake = undefined
    const decided = this.#closeReason
    const reason = decided !== undefined ? decided.error : (error ?? new ChannelClosedError(CONNECTION_LOST))
    const settle = this.#settleReady
    this.#settleReady = undefined
    settle?.reject(reason ?? new ChannelClosedError('the channel was closed during the handshake'))
    this.#owner.ended({ reason, report: decided ? decided.report : reason instanceof ProtocolError, wasOpen: this.#opened })
  }
}
