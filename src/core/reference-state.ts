/**
 * What a channel's codec consults about references at each stage of a connection (PROTOCOL.md
 * chapter 17): the connection's tables while it is open and both ends announced references, and
 * otherwise a stand-in that refuses every reference, saying why (not open yet, ended, the peer without
 * the feature, references turned off here).
 */
import type { CodecReferences } from '../protocol/codec.js'
import type { MessageEncoder } from '../protocol/encoder.js'
import { fromEnvelope, toEnvelope, withoutStacks } from '../protocol/fault.js'
import type { Payload } from '../protocol/framing.js'
import { REFERENCES_FEATURE } from '../protocol/references.js'
import { ProtocolError, SerializationError, type ChannelClosedError } from './errors.js'
import { peerSupports, type PeerInfo } from './handshake.js'
import { DEFAULTS, type ResolvedOptions } from './options.js'
import type { OutgoingCalls } from './outgoing-calls.js'
import { References } from './references.js'
import { importOf, isAbortSignal, RefToken } from './stubs.js'

/**
 * The tables of a connection that opened with `peer`, made the codec's; or undefined when one of the
 * ends does not announce references (`maxReferences: 0` turns them off here).
 */
export function openReferences(
  peer: PeerInfo,
  options: Pick<ResolvedOptions, 'maxReferences' | 'errorClasses'>,
  encoder: MessageEncoder,
  calls: Pick<OutgoingCalls, 'start'>,
  send: (payload: Payload) => void,
): References | undefined {
  const own = options.maxReferences
  if (own === 0 || !peerSupports(peer, REFERENCES_FEATURE)) {
    encoder.codec.references = own === 0 ? TURNED_OFF : PEER_WITHOUT_REFERENCES
    return undefined
  }
  const canEncode = (value: unknown): boolean => encoder.codec.canEncode(value)
  const references: References = new References(
    {
      // Stubs of an earlier connection never reach the channel: their tables ended with it. Four
      // frames from the caller, left out of a call site: start, this arrow, References#call, the stub.
      call: (ref, member, args, label) => calls.start({ ref, member }, label, args, undefined, 4),
      release: (releases) => send(encoder.release(releases)),
      signal: (ref, reason) => send(encoder.signal(ref, reason)),
      envelope: (reason) => withoutStacks(toEnvelope(reason, canEncode)),
      reason: (envelope) => fromEnvelope(envelope, options.errorClasses),
    },
    { exports: Math.min(own, peer.options.maxReferences ?? DEFAULTS.maxReferences), imports: own },
  )
  encoder.codec.references = references
  return references
}

/** The connection ended: every reference dies with it (see {@link References.end}). */
export function endReferences(references: References | undefined, encoder: MessageEncoder, reason: ChannelClosedError): undefined {
  references?.end(reason)
  encoder.codec.references = NOT_OPEN
  return undefined
}

/** The codec's references before a connection is open, and after it ended. */
export const NOT_OPEN = refuseReferences('the connection is not open (references need an open connection: await ready() first)')
/** The codec's references on a connection whose peer did not announce them. */
const PEER_WITHOUT_REFERENCES = refuseReferences('the peer does not support references')
/** The codec's references on a channel made with `maxReferences: 0`. */
const TURNED_OFF = refuseReferences('references are turned off on this channel (maxReferences: 0)')

/**
 * The codec's references when there are none: not connected, or a peer without the feature. A value
 * that would travel by reference fails with SerializationError saying `why`; nothing is accepted.
 */
function refuseReferences(why: string): CodecReferences {
  return {
    accepting: false,
    encodeReference(value) {
      if (typeof value === 'function' || value instanceof RefToken || isAbortSignal(value) || importOf(value) !== undefined) {
        throw new SerializationError(`cannot send ${describe(value)} by reference: ${why}`)
      }
      return undefined
    },
    decodeReference() {
      throw new ProtocolError('reference received without the references feature')
    },
    settle() {},
    discard() {},
  }
}

function describe(value: object): string {
  if (isAbortSignal(value)) return 'an AbortSignal'
  return typeof value === 'function' || (value instanceof RefToken && typeof value.target === 'function') ? 'a function' : 'an object'
}
