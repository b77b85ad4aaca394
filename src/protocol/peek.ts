/**
 * Reads the head of an encoded message (its type, its id or token, and the method name of a call or
 * notification) from the bytes, without decoding the rest: what a trace line shows of a frame this
 * side sends, at no cost to its values, and without touching the references a full decode would make.
 */
import { MessageType } from './messages.js'

/** The head of one message. Fields a message type does not have are undefined. */
export interface MessageHead {
  readonly type: number
  /** Call, stream or reference id; ping token. */
  readonly id: number | undefined
  /** Method of a call or notification, or of a notification reported as failed. */
  readonly method: string | undefined
}

const textDecoder = new TextDecoder()
/** Longest method name a head carries: a trace line is for reading. */
const MAX_METHOD = 256

/** The types whose second element is an id or token. */
const WITH_ID = new Set<number>([
  MessageType.Call,
  MessageType.Result,
  MessageType.Error,
  MessageType.Cancel,
  MessageType.Progress,
  MessageType.Item,
  MessageType.End,
  MessageType.Credit,
  MessageType.Ping,
  MessageType.Pong,
  MessageType.CallReference,
  MessageType.Signal,
])

/**
 * The head of the message encoded in `bytes` (the first chunk of a payload holds it).
 * @returns undefined when the bytes do not start as a message of this protocol does.
 */
export function peekHead(bytes: Uint8Array): MessageHead | undefined {
  const head = bytes[0]
  if (head === undefined || head < 0x81 || head > 0x97) return undefined
  const type = bytes[1]
  if (type === undefined || type > 0x17) return undefined
  let offset = 2
  let id: number | undefined
  let method: string | undefined
  if (WITH_ID.has(type)) {
    const read = readHead(bytes, offset, 0)
    if (read === undefined) return { type, id, method }
    id = read.value
    offset = read.next
  }
  if (type === MessageType.Call || type === MessageType.Notify || type === MessageType.NotifyFailed) method = readText(bytes, offset)
  return { type, id, method }
}

/** A CBOR head of major type `major` at `offset`: its argument and where what follows starts. */
function readHead(bytes: Uint8Array, offset: number, major: number): { value: number; next: number } | undefined {
  const initial = bytes[offset]
  if (initial === undefined || initial >> 5 !== major || (initial & 0x1f) > 0x1b) return undefined
  const info = initial & 0x1f
  if (info < 0x18) return { value: info, next: offset + 1 }
  const length = 1 << (info - 0x18)
  if (offset + 1 + length > bytes.length) return undefined
  let value = 0
  for (let i = 1; i <= length; i++) value = value * 256 + bytes[offset + i]!
  return { value, next: offset + 1 + length }
}

function readText(bytes: Uint8Array, offset: number): string | undefined {
  const head = readHead(bytes, offset, 3)
  if (head === undefined) return undefined
  const end = Math.min(head.next + head.value, head.next + MAX_METHOD, bytes.length)
  return textDecoder.decode(bytes.subarray(head.next, end))
}
