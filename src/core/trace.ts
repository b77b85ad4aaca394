/**
 * Tracing: one event per frame a connection sends or receives, for the `trace` option (and through it
 * `NODE_DEBUG=ipc-channel` on Node). A connection makes a Tracer only when the option is set, and
 * then picks its traced paths once, when it is made: a channel without it tests nothing per frame.
 */
import { isWhole, payloadLength, type Payload } from '../protocol/framing.js'
import { MessageType, type Message } from '../protocol/messages.js'
import { peekHead } from '../protocol/peek.js'
import { IdMap } from './id-map.js'

/** The name of each message type in a trace event, as PROTOCOL.md names them. */
export type TraceMessageType =
  | 'hello'
  | 'auth'
  | 'call'
  | 'notify'
  | 'result'
  | 'error'
  | 'cancel'
  | 'progress'
  | 'item'
  | 'end'
  | 'credit'
  | 'ping'
  | 'pong'
  | 'goodbye'
  | 'call-reference'
  | 'release'
  | 'signal'
  | 'notify-failed'
  | 'unknown'

const TYPE_NAMES: readonly TraceMessageType[] = [
  'hello',
  'auth',
  'call',
  'notify',
  'result',
  'error',
  'cancel',
  'progress',
  'item',
  'end',
  'credit',
  'ping',
  'pong',
  'goodbye',
  'call-reference',
  'release',
  'signal',
  'notify-failed',
]

/** One frame, as the `trace` option receives it. */
export interface TraceEvent {
  /** `out`: this side sent it; `in`: it arrived from the peer. */
  readonly direction: 'in' | 'out'
  /** The message type, named as PROTOCOL.md names it. */
  readonly type: TraceMessageType
  /** Numbers the connections of this process, from 1: tells a server's connections apart. */
  readonly connection: number
  /** The call (or stream) id, the reference id of a signal, or the ping token. */
  readonly id?: number
  /** The method of a call or notification, and of the call a result, error, progress or item answers. */
  readonly method?: string
  /** Bytes of the frame, without its length prefix. */
  readonly size: number
  /** For a result or error of a call this side made: milliseconds since the call was sent. */
  readonly rtt?: number
}

/** A function that receives trace events; it runs on the frame's path, so it should be quick. */
export type TraceFunction = (event: TraceEvent) => void

let connections = 0
const now: () => number = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now()

/** The trace of one connection: names frames, and pairs results with the calls they answer. */
export class Tracer {
  readonly #trace: TraceFunction
  readonly #report: (error: Error) => void
  readonly #connection = ++connections
  /** Calls this side sent, by id: their method and when they left. Forgotten at their answer. */
  readonly #sent = new IdMap<{ method: string; at: number }>()
  /** Calls the peer sent, by id, until this side answers them. */
  readonly #received = new IdMap<string>()

  /** @param report told when `trace` throws: the frame goes on regardless. */
  constructor(trace: TraceFunction, report: (error: Error) => void) {
    this.#trace = trace
    this.#report = report
  }

  /** A frame this side sends. */
  out(payload: Payload): void {
    const first = isWhole(payload) ? payload : payload[0]
    const head = first === undefined ? undefined : peekHead(first)
    if (head === undefined) {
      this.#emit('out', 'unknown', undefined, undefined, payloadLength(payload))
      return
    }
    const { type, id, method } = head
    let name = method
    if (type === MessageType.Call && id !== undefined) this.#sent.set(id, { method: method ?? '', at: now() })
    else if (id !== undefined && isAnswer(type)) {
      name = this.#received.get(id)
      if (type === MessageType.Result || type === MessageType.Error || type === MessageType.End) this.#received.delete(id)
    }
    this.#emit('out', TYPE_NAMES[type] ?? 'unknown', id, name, payloadLength(payload))
  }

  /** A frame that arrived, as decoded. */
  in(message: Message, size: number): void {
    const type = message[0]
    let id: number | undefined
    let method: string | undefined
    let rtt: number | undefined
    if (type === MessageType.Notify || type === MessageType.NotifyFailed) {
      method = message[1]
    } else if (type === MessageType.Call) {
      id = message[1]
      method = message[2]
      this.#received.set(id, method)
    } else if (type !== MessageType.Hello && type !== MessageType.Auth && type !== MessageType.Goodbye && type !== MessageType.Release) {
      id = message[1]
      const call = isAnswer(type) ? this.#sent.get(id) : undefined
      if (call !== undefined) {
        method = call.method
        if (type === MessageType.Result || type === MessageType.Error || type === MessageType.End) {
          this.#sent.delete(id)
          rtt = now() - call.at
        }
      }
    }
    this.#emit('in', TYPE_NAMES[type] ?? 'unknown', id, method, size, rtt)
  }

  #emit(direction: 'in' | 'out', type: TraceMessageType, id: number | undefined, method: string | undefined, size: number, rtt?: number): void {
    const event: { -readonly [K in keyof TraceEvent]: TraceEvent[K] } = { direction, type, connection: this.#connection, size }
    if (id !== undefined) event.id = id
    if (method !== undefined) event.method = method
    if (rtt !== undefined) event.rtt = rtt
    try {
      this.#trace(event)
    } catch (error) {
      this.#report(error instanceof Error ? error : new Error(String(error)))
    }
  }
}

/** Messages about a call, sent by the side that runs it. */
function isAnswer(type: number): boolean {
  return (
    type === MessageType.Result ||
    type === MessageType.Error ||
    type === MessageType.Progress ||
    type === MessageType.Item ||
    type === MessageType.End
  )
}

/** One line for a trace event: what `NODE_DEBUG=ipc-channel` prints. */
export function formatTraceEvent(event: TraceEvent): string {
  let line = `#${event.connection} ${event.direction === 'out' ? '->' : '<-'} ${event.type}`
  if (event.id !== undefined) line += ` ${event.id}`
  if (event.method !== undefined) line += ` ${JSON.stringify(event.method)}`
  line += ` ${event.size} B`
  if (event.rtt !== undefined) line += ` ${event.rtt.toFixed(3)} ms`
  return line
}
