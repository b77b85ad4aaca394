/**
 * The wire messages: every type and field, and the checks that turn a decoded frame into one of them.
 * Every frame carries one CBOR array whose first element is the message type; the remaining elements
 * are positional and named here. docs/PROTOCOL.md is the normative text.
 */
import { ProtocolError } from './errors.js'

/** Magic string carried by every hello, so that a non-ipc-channel peer is told apart at once. */
export const MAGIC = 'ipc-channel'

/** Protocol version spoken by this implementation. Peers with another version are refused. */
export const PROTOCOL_VERSION = 1

/**
 * The smallest maxFrameSize a hello may announce (PROTOCOL.md section 14): room for any message this
 * implementation must be able to send whatever the payload, such as its last-resort error answer.
 */
export const MIN_FRAME_SIZE = 1024

/**
 * The largest stream window a hello may announce (PROTOCOL.md section 10). A callee also clamps the
 * credit it holds per stream at this many items, so that no peer can make a stream run unchecked.
 */
export const MAX_STREAM_WINDOW = 65_536

/**
 * The largest `maxReferences` a hello may announce, and a side may set: reference ids, like call ids,
 * stay below 2^31 (PROTOCOL.md section 17.5).
 */
export const MAX_REFERENCES = 0x7fffffff - 1

/** Numeric message types, the first element of every message array. */
export const MessageType = {
  Hello: 0,
  Auth: 1,
  Call: 2,
  Notify: 3,
  Result: 4,
  Error: 5,
  Cancel: 6,
  Progress: 7,
  Item: 8,
  End: 9,
  Credit: 10,
  Ping: 11,
  Pong: 12,
  Goodbye: 13,
  // Only between endpoints that both announced the `references` feature (PROTOCOL.md chapter 17).
  CallReference: 14,
  Release: 15,
  Signal: 16,
  // Only to an endpoint whose hello asked for it (the `notifyErrors` hello option).
  NotifyFailed: 17,
} as const

export type MessageType = (typeof MessageType)[keyof typeof MessageType]

/**
 * Features a hello may announce, at most (PROTOCOL.md section 5.2): a hello announcing more is
 * malformed. Bounds what an unauthenticated peer's hello can make the receiver build.
 */
export const MAX_FEATURES = 64

/** Bytes of a feature name, at most; a longer text is not a feature this side knows, and is ignored. */
export const MAX_FEATURE_NAME = 64

/** Options a peer announces in its hello. Unknown keys are ignored, so new ones can be added freely. */
export interface HelloOptions {
  /** Stream items the announcing side lets the peer send per stream before it grants more credit. */
  window?: number
  /** Largest frame payload the announcing side accepts; a sender fails the one message that is larger. */
  maxFrameSize?: number
  /**
   * Capabilities added after version 1 of the protocol that the announcing side supports on this
   * connection (PROTOCOL.md section 5.2). One is in effect when both hellos name it; a hello without
   * the key announces none, which is how a version-1 endpoint interoperates.
   */
  features?: readonly string[]
  /** The announcing side's fixed role; absent when it decides by nonces (symmetric links). */
  role?: 'client' | 'server'
  /**
   * With the `references` feature: references the announcing side holds from its peer at once, at
   * most; the peer must not export more to it (PROTOCOL.md section 17.5). Absent: 100,000.
   */
  maxReferences?: number
  /**
   * The announcing side asks to be told, with a NotifyFailed message, of each of its notifications
   * that fails on the receiving side (unknown name, handler threw, dropped). Absent: never sent one.
   */
  notifyErrors?: true
}

/** `[0, magic, version, nonce, options]`: first frame from each side. `nonce` is null without a secret. */
export type HelloMessage = [type: 0, magic: string, version: number, nonce: Uint8Array | null, options: HelloOptions]
/** `[1, proof]`: HMAC-SHA256 proof of the secret over both nonces and the sender's role. */
export type AuthMessage = [type: 1, proof: Uint8Array]
/** `[2, id, name, args]`: call `name` and answer with result, error or a stream under `id`. */
export type CallMessage = [type: 2, id: number, name: string, args: unknown[]]
/** `[3, name, args]`: call `name`, expect no answer. */
export type NotifyMessage = [type: 3, name: string, args: unknown[]]
/** `[4, id, value]`: the call `id` returned `value`. */
export type ResultMessage = [type: 4, id: number, value: unknown]
/** `[5, id, error]`: the call `id` threw; `error` is an {@link ErrorEnvelope}. */
export type ErrorMessage = [type: 5, id: number, error: ErrorEnvelope]
/** `[6, id, reason]`: the caller gave up on call `id`; `reason` is an {@link ErrorEnvelope}. */
export type CancelMessage = [type: 6, id: number, reason: ErrorEnvelope]
/** `[7, id, value]`: progress report of the running call `id`. */
export type ProgressMessage = [type: 7, id: number, value: unknown]
/** `[8, id, value]`: one item of the streaming call `id`. */
export type ItemMessage = [type: 8, id: number, value: unknown]
/** `[9, id]`: the streaming call `id` ended normally. */
export type EndMessage = [type: 9, id: number]
/** `[10, id, count]`: the caller of stream `id` accepts `count` more items. */
export type CreditMessage = [type: 10, id: number, count: number]
/** `[11, token]`: liveness probe; answered by a pong with the same token. */
export type PingMessage = [type: 11, token: number]
/** `[12, token]`: answer to a ping. */
export type PongMessage = [type: 12, token: number]
/** `[13, reason]`: the sender is closing the channel on purpose. */
export type GoodbyeMessage = [type: 13, reason: string | null]
/**
 * `[14, id, ref, member, args]`: call the receiver's export `ref` (a function when `member` is null,
 * else that member of an object), answered under `id` exactly as a call.
 */
export type CallReferenceMessage = [type: 14, id: number, ref: number, member: string | null, args: unknown[]]
/** `[15, releases]`: the sender drops references to the receiver's exports: `[ref, count, ref, count, ...]`. */
export type ReleaseMessage = [type: 15, releases: number[]]
/** `[16, ref, reason]`: the sender's AbortSignal exported as `ref` aborted; `reason` is an {@link ErrorEnvelope}. */
export type SignalMessage = [type: 16, ref: number, reason: ErrorEnvelope]
/**
 * `[17, name, error]`: a notification of `name` the receiver of this message sent has failed on the
 * sender of it; `error` is an {@link ErrorEnvelope}. Only to a peer whose hello asked (`notifyErrors`).
 */
export type NotifyFailedMessage = [type: 17, name: string, error: ErrorEnvelope]

export type Message =
  | HelloMessage
  | AuthMessage
  | CallMessage
  | NotifyMessage
  | ResultMessage
  | ErrorMessage
  | CancelMessage
  | ProgressMessage
  | ItemMessage
  | EndMessage
  | CreditMessage
  | PingMessage
  | PongMessage
  | GoodbyeMessage
  | CallReferenceMessage
  | ReleaseMessage
  | SignalMessage
  | NotifyFailedMessage

/**
 * How an exception crosses the wire. An Error becomes `{ type: 'error', ... }`; any other thrown value
 * (a string, an object, `undefined`) becomes `{ type: 'value', value }`.
 */
export type ErrorEnvelope = ErrorObjectEnvelope | ThrownValueEnvelope

export interface ErrorObjectEnvelope {
  type: 'error'
  /** The error's `name`, e.g. `TypeError` or a custom class name. */
  name: string
  /** The constructor's name when it differs from `name` (a subclass that does not set its own name). */
  class?: string
  message: string
  /** The stack as the remote side formatted it, if it had one. */
  stack?: string
  /** Own enumerable properties other than name, message, stack and cause (`code`, `errno`, ...). */
  props?: Record<string, unknown>
  /** The error's `cause`, itself an envelope. */
  cause?: ErrorEnvelope
  /** The `errors` of an AggregateError, each an envelope. */
  errors?: ErrorEnvelope[]
}

export interface ThrownValueEnvelope {
  type: 'value'
  value: unknown
}

/** Message types a peer may send before the handshake has completed. */
export function isHandshakeMessage(type: number): boolean {
  return type === MessageType.Hello || type === MessageType.Auth || type === MessageType.Goodbye
}

/**
 * The message type of an encoded message, read from its first two bytes without decoding: a
 * definite-length array head of 1 to 23 elements (0x81-0x97) followed by a type in one byte
 * (0x00-0x17); -1 for anything else. What a channel checks frames against before the handshake.
 */
export function peekMessageType(payload: Uint8Array): number {
  const head = payload[0]
  if (head === undefined || head < 0x81 || head > 0x97) return -1
  const type = payload[1]
  return type !== undefined && type <= 0x17 ? type : -1
}

/** Ids, tokens and counts: non-negative integers (PROTOCOL.md section 3.2). */
export function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0
}

/**
 * Checks the shape of a decoded message and returns it as the typed union. Ids, tokens and counts must
 * have been written as unsigned integers (PROTOCOL.md section 3.2): decoding cannot tell `1` from
 * `1.0`, so they are read again from `payload`, the bytes the message was decoded from (without it,
 * only their decoded values are checked). Hello and auth
 * are returned unchecked beyond their type: the handshake checks them, and after it they are refused.
 * @throws ProtocolError naming what is wrong.
 */
export function parseMessage(decoded: unknown, payload?: Uint8Array): Message {
  if (!Array.isArray(decoded) || typeof decoded[0] !== 'number') {
    throw new ProtocolError('a message must be an array starting with its type')
  }
  const message = decoded as unknown[]
  const type = message[0] as number
  switch (type) {
    case MessageType.Call:
      if (!isWireId(message[1], payload, 1) || typeof message[2] !== 'string' || !Array.isArray(message[3])) throw malformed('call')
      break
    case MessageType.Notify:
      if (typeof message[1] !== 'string' || !Array.isArray(message[2])) throw malformed('notify')
      break
    case MessageType.NotifyFailed:
      if (typeof message[1] !== 'string') throw malformed('notify-failed')
      break
    case MessageType.Credit:
      if (!isWireId(message[1], payload, 1) || !isWireId(message[2], payload, 2)) throw malformed('credit')
      break
    case MessageType.CallReference: {
      const member = message[3]
      if (
        !isWireId(message[1], payload, 1) ||
        !isWireId(message[2], payload, 2) ||
        (member !== null && typeof member !== 'string') ||
        !Array.isArray(message[4])
      ) {
        throw malformed('call-reference')
      }
      break
    }
    case MessageType.Release:
      if (!isReleaseList(message[1])) throw malformed('release')
      break
    case MessageType.Signal:
      if (!isWireId(message[1], payload, 1)) throw malformed('signal')
      break
    case MessageType.Result:
    case MessageType.Error:
    case MessageType.Cancel:
    case MessageType.Progress:
    case MessageType.Item:
    case MessageType.End:
    case MessageType.Ping:
      if (!isWireId(message[1], payload, 1)) throw malformed(MESSAGE_NAMES[type])
      break
    case MessageType.Hello:
    case MessageType.Auth:
    case MessageType.Pong:
    case MessageType.Goodbye:
      break
    default:
      throw new ProtocolError(`unknown message type ${String(type)}`)
  }
  return message as Message
}

/** A decoded field that was written as an unsigned integer (element `index` of `payload`). */
function isWireId(value: unknown, payload: Uint8Array | undefined, index: number): value is number {
  if (payload === undefined) return isId(value)
  if (typeof value !== 'number') return false
  // The usual frame, on every message's path: a one-byte array head and a one-byte type put the id at
  // offset 2, and an initial byte of major type 0 with an argument of at most 4 bytes is the whole check.
  const head = payload[0]
  if (index === 1 && head >= 0x81 && head <= 0x97 && payload[1] <= 0x17) return payload[2] <= 0x1a
  return peekUint(payload, index) === value
}

/** Names of the message types, as error texts and traces spell them. */
export const MESSAGE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [MessageType.Hello]: 'hello',
  [MessageType.Auth]: 'auth',
  [MessageType.Call]: 'call',
  [MessageType.Notify]: 'notify',
  [MessageType.Result]: 'result',
  [MessageType.Error]: 'error',
  [MessageType.Cancel]: 'cancel',
  [MessageType.Progress]: 'progress',
  [MessageType.Item]: 'item',
  [MessageType.End]: 'end',
  [MessageType.Credit]: 'credit',
  [MessageType.Ping]: 'ping',
  [MessageType.Pong]: 'pong',
  [MessageType.Goodbye]: 'goodbye',
  [MessageType.CallReference]: 'call-reference',
  [MessageType.Release]: 'release',
  [MessageType.Signal]: 'signal',
  [MessageType.NotifyFailed]: 'notify-failed',
})

/** Largest reference id and release count: an unsigned integer of at most 4 bytes (PROTOCOL.md section 3.2). */
const MAX_UINT32 = 0xffffffff

/** A release list: pairs of a reference id and a count, each an integer from 0 to 2^32-1. */
function isReleaseList(value: unknown): value is number[] {
  if (!Array.isArray(value) || value.length % 2 !== 0) return false
  for (const member of value) if (!isId(member) || member > MAX_UINT32) return false
  return true
}

function malformed(kind: string): ProtocolError {
  return new ProtocolError(`malformed ${kind} message`)
}

/**
 * Element `index` of an encoded message, when it and every element before it are unsigned integers
 * (major type 0) with at most a 4-byte argument, as section 3.2 of PROTOCOL.md requires of the
 * protocol's fields; -1 otherwise (a float, even an integral one, a negative or 8-byte integer, any
 * other type, too few elements, a payload that is not a definite-length array). Reads a few bytes,
 * decodes nothing: the decoded message cannot tell `1` from `1.0`, the bytes can.
 */
export function peekUint(payload: Uint8Array, index: number): number {
  const head = payload[0]
  // A definite-length array: 0x80-0x97, or 0x98-0x9a with a 1, 2 or 4-byte count.
  if (head === undefined || head < 0x80 || head > 0x9a) return -1
  let at = 1
  let count = head & 0x1f
  if (count >= 24) {
    count = readArgument(payload, at, count)
    at += 1 << (head - 0x98)
  }
  if (!(index < count)) return -1
  for (let i = 0; ; i++) {
    const initial = payload[at]
    // Major type 0 with additional information 0-26.
    if (initial === undefined || initial > 0x1a) return -1
    const value = initial < 24 ? initial : readArgument(payload, at + 1, initial)
    if (i === index) return value
    at += initial < 24 ? 1 : 1 + (1 << (initial - 24))
  }
}

/** Element 1 of an encoded message (the `id` of most messages, the `token` of Ping and Pong) by {@link peekUint}. */
export function peekId(payload: Uint8Array): number {
  return peekUint(payload, 1)
}

/** The argument after an initial byte whose additional information is `info` (24-26), at `at`; -1 if truncated. */
function readArgument(payload: Uint8Array, at: number, info: number): number {
  const size = 1 << (info - 24)
  if (at + size > payload.length) return -1
  let value = 0
  for (let i = 0; i < size; i++) value = value * 256 + payload[at + i]
  return value
}
