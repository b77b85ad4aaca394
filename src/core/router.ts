/**
 * Where each incoming message goes once the connection is open (PROTOCOL.md chapters 6-12): one case
 * per message type, each handing the message to the part that owns its state. A table rather than
 * logic, kept apart from the Channel facade so that it reads as the protocol's list of messages.
 */
import { fromEnvelope, type ErrorClass } from '../protocol/fault.js'
import { MessageType, type Message } from '../protocol/messages.js'
import { ProtocolError } from './errors.js'
import type { IncomingCalls } from './incoming-calls.js'
import type { OutgoingCalls } from './outgoing-calls.js'
import type { References } from './references.js'

/** The parts messages are routed to, and the two answers the channel gives itself. */
export interface Routes {
  readonly calls: OutgoingCalls
  readonly incoming: IncomingCalls<unknown>
  readonly errorClasses: ReadonlyMap<string, ErrorClass> | undefined
  /** The connection's reference tables; undefined unless both ends announced the feature. */
  references(): References | undefined
  /** Answers a ping. */
  pong(token: number): void
  /** A pong arrived: the answer to a ping of this side's. */
  ponged(token: number): void
  /** The peer is closing the channel on purpose. */
  goodbye(): void
  /** A notification of this side failed on the peer (only for a side that asked, `notifyErrors`). */
  notifyFailed(name: string, envelope: unknown): void
}

/**
 * Hands `message`, which came in a frame of `size` bytes, to its owner.
 * @throws ProtocolError for a handshake message after the handshake, stream items beyond the credit, or
 *   a message of the references feature on a connection without it.
 */
export function routeMessage(message: Message, size: number, to: Routes): void {
  switch (message[0]) {
    case MessageType.Call:
      to.incoming.call(message[1], message[2], message[3], size)
      return
    case MessageType.Notify:
      to.incoming.notify(message[1], message[2], size)
      return
    case MessageType.Result:
      to.calls.resolve(message[1], message[2])
      return
    case MessageType.Error:
      to.calls.reject(message[1], message[2])
      return
    case MessageType.Cancel: {
      const reason = message[2]
      // Rebuilt only for a call that is still running here.
      to.incoming.cancel(message[1], () => fromEnvelope(reason, to.errorClasses))
      return
    }
    case MessageType.Progress:
      to.calls.progress(message[1], message[2])
      return
    case MessageType.Item:
      if (!to.calls.item(message[1], message[2])) throw new ProtocolError(`stream ${message[1]} sent more items than its credit allows`)
      return
    case MessageType.End:
      to.calls.end(message[1])
      return
    case MessageType.Credit:
      to.incoming.credit(message[1], message[2])
      return
    case MessageType.Ping:
      to.pong(message[1])
      return
    case MessageType.Pong:
      to.ponged(message[1])
      return
    case MessageType.Goodbye:
      to.goodbye()
      return
    case MessageType.NotifyFailed:
      to.notifyFailed(message[1], message[2])
      return
    case MessageType.Hello:
    case MessageType.Auth:
      throw new ProtocolError('handshake message after the handshake completed')
    case MessageType.CallReference:
      referencesFor(message[0], to)
      to.incoming.call(message[1], { ref: message[2], member: message[3] }, message[4], size)
      return
    case MessageType.Release:
      referencesFor(message[0], to).released(message[1])
      return
    case MessageType.Signal: {
      const reason = message[2]
      referencesFor(message[0], to).signal(message[1], () => fromEnvelope(reason, to.errorClasses))
      return
    }
  }
}

/** The reference tables, for a message type that exists only with the references feature. */
function referencesFor(type: number, to: Routes): References {
  const references = to.references()
  if (references === undefined) throw new ProtocolError(`message type ${type} sent without the references feature`)
  return references
}
