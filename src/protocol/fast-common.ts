/**
 * What the two halves of the codec's fast path (fast-encode.ts, fast-decode.ts) share: the values
 * they hand back when a message is for cbor-x, how deep they go, and the byte order of this machine.
 *
 * The fast path is a narrower cbor-x: it writes the bytes cbor-x writes with CODEC_OPTIONS and reads
 * the values it reads, for the values nearly every message is made of, and hands everything else to
 * cbor-x whole. It exists because cbor-x spends most of a small call's encode time finding an object's
 * tag (an `instanceof` scan over its extension classes) and, on decode, attaching a DataView to every
 * source, and because on the general path a received payload is scanned by profile.ts before cbor-x
 * reads it: what the fast decoder accepts is within that profile by construction.
 */

/** Returned by fastDecode when the payload needs the general decoder. */
export const GENERAL: unique symbol = Symbol('general')
/** Returned by fastEncode when the value holds more data items than allowed (as profile.ts counts them). */
export const TOO_MANY_ITEMS: unique symbol = Symbol('too many items')

/** Nesting the fast path goes into; deeper values (and cycles) are left to cbor-x. */
export const MAX_DEPTH = 64

export const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
