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

/**
 * Whether a value fastDecode handed back (or read on the way) is GENERAL. Decoded values are never
 * symbols, so the type is the test: `value === GENERAL`, with the other side of any type, compiled to
 * a call of V8's generic strict-equality builtin, about 20 instructions a test on the decode path.
 */
export function isGeneral(value: unknown): value is typeof GENERAL {
  return typeof value === 'symbol'
}

/** Returned by fastEncode when the value holds more data items than allowed (as profile.ts counts them). */
export const TOO_MANY_ITEMS: unique symbol = Symbol('too many items')

/** Nesting the fast path goes into; deeper values (and cycles) are left to cbor-x. */
export const MAX_DEPTH = 64

export const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** The typed array classes the fast path reads and writes, and the bytes each element takes. */
export type TypedArrayClass =
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor

/**
 * The typed arrays cbor-x tags (RFC 8746), each with the tag it writes on this machine. A typed array
 * travels as the bytes of its span, in the sender's byte order, with no padding; the tag says which
 * order (a big-endian tag is 4 below its little-endian one, bytes and clamped bytes have one tag).
 */
export const TYPED_ARRAY_TAGS: ReadonlyMap<TypedArrayClass, number> = new Map(
  (
    [
      [Uint8Array, 64],
      [Uint8ClampedArray, 68],
      [Uint16Array, 69],
      [Uint32Array, 70],
      [BigUint64Array, 71],
      [Int8Array, 72],
      [Int16Array, 77],
      [Int32Array, 78],
      [BigInt64Array, 79],
      [Float32Array, 85],
      [Float64Array, 86],
    ] as const
  ).map(([type, tag]) => [type, littleEndian || type.BYTES_PER_ELEMENT === 1 ? tag : tag - 4]),
)
