/**
 * The CBOR profile a received payload must keep to, checked in one linear pass before cbor-x decodes
 * it. cbor-x's tag handlers are process-wide and include value sharing (tags 28/29, which let a few
 * bytes build cycles or force re-reads), packed values and records; and it allocates arrays from their
 * declared length. None of that may be driven by a peer, so a payload must use:
 * - definite lengths only (no indefinite strings, arrays or maps, no lone "break");
 * - element counts no larger than the bytes that remain (each element takes at least one byte);
 * - only the tags this side's encoder emits: 1 (epoch date), 2 and 3 (bignums of at most
 *   {@link MAX_BIGNUM_BYTES} bytes: cbor-x decodes them in quadratic time), 27 (an Error or
 *   RegExp passed as a value, with a name that is not an Object.prototype member), 64-87 except 76
 *   (typed arrays), 258 (set), 259 (map with keys of any type);
 * - simple values false, true, null and undefined, and floats;
 * - nesting no deeper than {@link MAX_NESTING}.
 */
import { ProtocolError } from './errors.js'

/** Deepest nesting of arrays, maps and tags accepted. */
export const MAX_NESTING = 512

/** Largest bignum magnitude, in bytes (8,192 bits). */
export const MAX_BIGNUM_BYTES = 1024

const TAG_ERROR_VALUE = 27

/** Names tag 27 may carry: cbor-x looks them up on a plain object, so prototype members must not pass. */
const FORBIDDEN_GENERIC_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype))

function isAllowedTag(tag: number): boolean {
  return tag === 1 || tag === 2 || tag === 3 || tag === TAG_ERROR_VALUE || (tag >= 64 && tag <= 87 && tag !== 76) || tag === 258 || tag === 259
}

const textDecoder = new TextDecoder()

/**
 * Throws a ProtocolError when `bytes` is not exactly one data item within the profile.
 * Linear in the number of items; byte and text strings are skipped, not read.
 */
export function checkProfile(bytes: Uint8Array): void {
  const problem = profileViolation(bytes)
  if (problem !== undefined) throw new ProtocolError(`malformed CBOR payload: ${problem}`)
}

/** What takes `bytes` outside the profile, or undefined when nothing does. */
export function profileViolation(bytes: Uint8Array): string | undefined {
  try {
    scan(bytes)
    return undefined
  } catch (error) {
    if (error instanceof ProfileViolation) return error.message
    throw error
  }
}

class ProfileViolation extends Error {}

function scan(bytes: Uint8Array): void {
  const end = bytes.byteLength
  let pos = 0
  /** Items still to read at each open nesting level; the innermost last. */
  const pending: number[] = []
  let remaining = 1
  /** Set after tag 27: the next item must be [name, message, flags?] with an acceptable name. */
  let expectGeneric = false
  /** Set after tags 2 and 3: the next item must be a short byte string. */
  let expectBignum = false
  for (;;) {
    if (remaining === 0) {
      if (pending.length === 0) break
      remaining = pending.pop()!
      continue
    }
    remaining--
    if (pos >= end) throw invalid('truncated')
    const initial = bytes[pos++]
    const major = initial >> 5
    const info = initial & 0x1f
    let argument: number
    if (info < 24) {
      argument = info
    } else if (info === 24) {
      argument = bytes[pos]
      pos += 1
    } else if (info === 25) {
      argument = (bytes[pos] << 8) | bytes[pos + 1]
      pos += 2
    } else if (info === 26) {
      argument = ((bytes[pos] << 24) >>> 0) + ((bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3])
      pos += 4
    } else if (info === 27) {
      const high = ((bytes[pos] << 24) >>> 0) + ((bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3])
      const low = ((bytes[pos + 4] << 24) >>> 0) + ((bytes[pos + 5] << 16) | (bytes[pos + 6] << 8) | bytes[pos + 7])
      // Beyond 2^53 only integers and floats are meaningful; as a length it fails the bounds below.
      argument = high * 0x100000000 + low
      pos += 8
    } else {
      throw invalid(info === 31 ? 'indefinite length or break' : 'reserved additional information')
    }
    if (pos > end) throw invalid('truncated')
    if (expectBignum) {
      expectBignum = false
      if (major !== 2 || argument > MAX_BIGNUM_BYTES) throw invalid(`a bignum must be a byte string of at most ${MAX_BIGNUM_BYTES} bytes`)
    }
    if (expectGeneric) {
      expectGeneric = false
      if (major !== 4 || argument < 2 || argument > 3) throw invalid('tag 27 must wrap [name, message]')
      const nameHead = bytes[pos]
      if (nameHead >> 5 !== 3 || (nameHead & 0x1f) >= 24) throw invalid('tag 27 needs a short text name')
      const nameLength = nameHead & 0x1f
      const name = textDecoder.decode(bytes.subarray(pos + 1, pos + 1 + nameLength))
      if (FORBIDDEN_GENERIC_NAMES.has(name)) throw invalid(`tag 27 name ${JSON.stringify(name)}`)
    }
    switch (major) {
      case 0:
      case 1:
        break
      case 2:
      case 3:
        if (argument > end - pos) throw invalid('string longer than the payload')
        pos += argument
        break
      case 4:
      case 5: {
        const items = major === 5 ? argument * 2 : argument
        if (items > end - pos) throw invalid('more elements declared than bytes remain')
        if (pending.length >= MAX_NESTING) throw invalid('nested too deeply')
        pending.push(remaining)
        remaining = items
        break
      }
      case 6:
        if (!isAllowedTag(argument)) throw invalid(`tag ${argument} is not allowed`)
        if (pending.length >= MAX_NESTING) throw invalid('nested too deeply')
        if (argument === TAG_ERROR_VALUE) expectGeneric = true
        else if (argument === 2 || argument === 3) expectBignum = true
        // The tagged item is a level of its own, so a chain of tags counts toward the nesting limit.
        pending.push(remaining)
        remaining = 1
        break
      default:
        // Major type 7: false, true, null, undefined, and half, single and double floats.
        if (info < 20 || info === 24) throw invalid('unassigned simple value')
        break
    }
  }
  if (pos !== end) throw invalid('bytes after the end of the message')
}

function invalid(detail: string): ProfileViolation {
  return new ProfileViolation(detail)
}
