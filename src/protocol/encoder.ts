/**
 * Every outgoing message of one channel, encoded: the frame shapes of PROTOCOL.md chapters 6-12, the
 * peer's frame limit (a message the peer would refuse fails here instead), and error envelopes degraded
 * until they fit.
 */
import { Codec } from './codec.js'
import { SerializationError } from './errors.js'
import { toEnvelope, withoutStacks, type EnvelopeOptions } from './fault.js'
import { payloadLength, type Payload } from './framing.js'
import { MessageType, type ErrorEnvelope, type Message } from './messages.js'
import type { CallTarget } from './sendable.js'

/** Characters of a notification's name a NotifyFailed report repeats, at most. */
const MAX_REPORTED_NAME = 256

/** Encodes the messages of one channel. One per channel, like its codec. */
export class MessageEncoder {
  readonly codec: Codec
  /** Largest payload the peer accepts, from its hello; until then, this side's own default. */
  peerMaxFrameSize: number

  readonly #envelope: EnvelopeOptions

  /** @param sendStacks send the stacks of errors handlers throw (the library's own never carry one). */
  constructor(codec: Codec, peerMaxFrameSize: number, sendStacks = true) {
    this.codec = codec
    this.peerMaxFrameSize = peerMaxFrameSize
    this.#envelope = { stacks: sendStacks }
  }

  /** Any message, unchecked against the peer's limit: the handshake's, which come before it is known. */
  encode(message: Message): Uint8Array {
    return this.codec.encode(message)
  }

  /**
   * `args` here and below: an Array (rest parameters, or what call() was given), which travels as a
   * plain one, its elements by index, whatever its class.
   * @throws SerializationError when an argument cannot be encoded or the call exceeds the peer's limit.
   */
  call(id: number, name: string, args: unknown[]): Payload {
    return this.#fitted(this.codec.encodeData([MessageType.Call, id, name, args], 3))
  }

  /** A call of the peer's export `ref` (`member` of it, or the function itself when null). @throws SerializationError as {@link call}. */
  callReference(id: number, ref: number, member: string | null, args: unknown[]): Payload {
    return this.#fitted(this.codec.encodeData([MessageType.CallReference, id, ref, member, args], 4))
  }

  /** @throws SerializationError as {@link call}. */
  notify(name: string, args: unknown[]): Payload {
    return this.#fitted(this.codec.encodeData([MessageType.Notify, name, args], 2))
  }

  /**
   * The result of call `id`; an error message in its place when the value cannot be sent.
   * @param target what was called, named in that error.
   */
  result(id: number, value: unknown, target?: CallTarget): Payload {
    let payload: Payload
    try {
      payload = this.codec.encodeData([MessageType.Result, id, value], 2, target)
    } catch (error) {
      return this.error(id, error)
    }
    const tooLarge = this.#tooLarge(payload)
    if (tooLarge === undefined) return payload
    this.codec.references?.discard(payload)
    return this.error(id, tooLarge)
  }

  /** The failure of call `id`, degraded until it encodes and fits. */
  error(id: number, thrown: unknown): Uint8Array {
    return this.#withEnvelope((envelope) => [MessageType.Error, id, envelope], thrown)
  }

  /**
   * The failure of a notification of `name` the peer sent, for a peer that asked for such reports. A
   * long name is cut: the report is for reading.
   */
  notifyFailed(name: string, thrown: unknown): Uint8Array {
    const shown = name.length > MAX_REPORTED_NAME ? `${name.slice(0, MAX_REPORTED_NAME)}...` : name
    return this.#withEnvelope((envelope) => [MessageType.NotifyFailed, shown, envelope], thrown)
  }

  /** This side gave up on call `id`; the reason travels without stacks (the peer only needs why). */
  cancel(id: number, reason: unknown): Uint8Array {
    return this.#withEnvelope((envelope) => [MessageType.Cancel, id, withoutStacks(envelope)], reason)
  }

  /**
   * @param target what was called, named in errors.
   * @throws SerializationError when the value cannot be encoded or exceeds the peer's limit.
   */
  progress(id: number, value: unknown, target?: CallTarget): Payload {
    return this.#fitted(this.codec.encodeData([MessageType.Progress, id, value], 2, target))
  }

  /** @throws SerializationError as {@link progress}. */
  item(id: number, value: unknown, target?: CallTarget): Payload {
    return this.#fitted(this.codec.encodeData([MessageType.Item, id, value], 2, target))
  }

  end(id: number): Uint8Array {
    return this.codec.encode([MessageType.End, id])
  }

  credit(id: number, count: number): Uint8Array {
    return this.codec.encode([MessageType.Credit, id, count])
  }

  ping(token: number): Uint8Array {
    return this.codec.encode([MessageType.Ping, token])
  }

  pong(token: number): Uint8Array {
    return this.codec.encode([MessageType.Pong, token])
  }

  goodbye(): Uint8Array {
    return this.codec.encode([MessageType.Goodbye, null])
  }

  /** The peer's exports this side drops: `[ref, count, ref, count, ...]`, short enough for any frame limit. */
  release(releases: number[]): Uint8Array {
    return this.codec.encode([MessageType.Release, releases])
  }

  /** This side's AbortSignal exported as `ref` aborted with `reason` (sent without stacks, as a cancel's). */
  signal(ref: number, reason: unknown): Uint8Array {
    return this.#withEnvelope((envelope) => [MessageType.Signal, ref, withoutStacks(envelope)], reason)
  }

  #fitted(payload: Payload): Payload {
    const tooLarge = this.#tooLarge(payload)
    if (tooLarge) {
      this.codec.references?.discard(payload)
      throw tooLarge
    }
    return payload
  }

  #tooLarge(payload: Payload): SerializationError | undefined {
    const length = payloadLength(payload)
    if (length <= this.peerMaxFrameSize) return undefined
    return new SerializationError(`message of ${length} bytes exceeds the peer's maxFrameSize (${this.peerMaxFrameSize})`)
  }

  /**
   * Encodes a message that carries an error envelope, degrading the envelope until it encodes and fits
   * the peer's maxFrameSize: first without what cannot be encoded, then without stacks and properties.
   */
  #withEnvelope(build: (envelope: ErrorEnvelope) => Message, thrown: unknown): Uint8Array {
    const canEncode = (value: unknown): boolean => this.codec.canEncode(value)
    const attempts: (() => ErrorEnvelope)[] = [
      () => toEnvelope(thrown, undefined, this.#envelope),
      () => toEnvelope(thrown, canEncode, this.#envelope),
      () => withoutStacks(toEnvelope(thrown, canEncode, this.#envelope)),
    ]
    let failure: unknown
    for (const attempt of attempts) {
      try {
        const payload = this.codec.encode(build(attempt()))
        failure = this.#tooLarge(payload)
        if (!failure) return payload
      } catch (error) {
        failure = error
      }
    }
    const reason = failure instanceof Error ? failure.message : String(failure)
    return this.codec.encode(
      build({
        type: 'error',
        name: 'SerializationError',
        // Short enough to fit the smallest frame limit a peer may announce (MIN_FRAME_SIZE).
        message: `the error could not be sent: ${reason}`.slice(0, 200),
        props: { code: 'ERR_SERIALIZATION' },
      }),
    )
  }
}
