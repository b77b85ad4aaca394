/**
 * The wire messages. Every frame carries one CBOR array whose first element is the message type;
 * the remaining elements are positional and named here. docs/PROTOCOL.md is the normative text.
 */

/** Magic string carried by every hello, so that a non-ipc-channel peer is told apart at once. */
export const MAGIC = 'ipc-channel'

/** Protocol version spoken by this implementation. Peers with another version are refused. */
export const PROTOCOL_VERSION = 1

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
} as const

export type MessageType = (typeof MessageType)[keyof typeof MessageType]

/** Options a peer announces in its hello. Unknown keys are ignored, so new ones can be added freely. */
export interface HelloOptions {
  /** Stream items the announcing side lets the peer send per stream before it grants more credit. */
  window?: number
  /** Largest frame payload the announcing side accepts; a sender fails the one message that is larger. */
  maxFrameSize?: number
  /** The announcing side's fixed role; absent when it decides by nonces (symmetric links). */
  role?: 'client' | 'server'
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
