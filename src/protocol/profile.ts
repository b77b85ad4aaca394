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
 * - nesting no deeper than {@link MAX_NESTING};
 * - at most `maxItems` (>= 1) data items, {@link DEFAULT_MAX_FRAME_ITEMS} by default.
 * A connection that negotiated an extension tag (a reference, PROTOCOL.md chapter 17) passes it as
 * `extraTag`: it is allowed then, and the check says whether it occurred.
 */
import { ProtocolError } from './errors.js'

/** Deepest nesting of arrays, maps and tags accepted. */
export const MAX_NESTING = 512

/** Largest bignum magnitude, in bytes (8,192 bits). */
export const MAX_BIGNUM_BYTES = 1024

/**
 * Data items one payload may hold by default (a future `maxFrameItems` option). Decoding makes an
 * object of nearly every item, and an item takes as little as one byte: an empty byte string costs
 * cbor-x about 104 bytes of memory and 1 µs, so a 4 MiB frame of them grew a process by 460 MiB and
 * held its event loop for seconds. At 2^20 items a frame costs at most about 110 MB and a second
 * however it is built (SECURITY.md has the figures), while a byte string, however long, is one item.
 *
 * Counted: the payload's top-level item, every element of an array, every key and every value of a
 * map, and the content of every tag, a tag 27 counting {@link ERROR_VALUE_ITEMS} more. Each item
 * takes at least one byte, so a payload of at most that many bytes without tag 27 is always within.
 */
export const DEFAULT_MAX_FRAME_ITEMS = 1_048_576

/**
 * What a tag 27 (an Error or RegExp passed as a value) counts for, besides its content: decoding an
 * Error value captures a stack trace, some 11 µs and 645 bytes each, 6 times the memory and 20 to 40
 * times the time of an empty byte string. So a frame holds at most 2^20 / 36 = 29,127 of them.
 */
export const ERROR_VALUE_ITEMS = 32

const TAG_ERROR_VALUE = 27

/** Names tag 27 may carry: cbor-x looks them up on a plain object, so prototype members must not pass. */
const FORBIDDEN_GENERIC_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype))

function isAllowedTag(tag: number): boolean {
  return tag === 1 || tag === 2 || tag === 3 || tag === TAG_ERROR_VALUE || (tag >= 64 && tag <= 87 && tag !== 76) || tag === 258 || tag === 259
}

const textDecoder = new TextDecoder()

/** No extension tag: {@link checkProfile}'s default. */
const NO_EXTRA_TAG = -1

/**
 * Throws a ProtocolError when `bytes` is not exactly one data item within the profile, or holds more
 * than `maxItems` data items.
 * Linear in the number of items; byte and text strings are skipped, not read.
 * @param extraTag a tag allowed besides the profile's own (an extension the connection negotiated).
 * @returns whether `extraTag` occurs.
 */
export function checkProfile(bytes: Uint8Array, maxItems = DEFAULT_MAX_FRAME_ITEMS, extraTag = NO_EXTRA_TAG): boolean {
  let seen: boolean
  try {
    seen = scan(bytes, maxItems, extraTag)
  } catch (error) {
    if (!(error instanceof ProfileViolation)) throw error
    throw new ProtocolError(error.overBudget ? `payload refused: ${error.message}` : `malformed CBOR payload: ${error.message}`)
  }
  return seen
}

/**
 * What takes `bytes` outside the profile (or over `maxItems` data items), or undefined when nothing does.
 * @param extraTag as for {@link checkProfile}.
 */
export function profileViolation(bytes: Uint8Array, maxItems = DEFAULT_MAX_FRAME_ITEMS, extraTag = NO_EXTRA_TAG): string | undefined {
  try {
    scan(bytes, maxItems, extraTag)
    return undefined
  } catch (error) {
    if (error instanceof ProfileViolation) return error.message
    throw error
  }
}

class ProfileViolation extends Error {
  constructor(
    message: string,
    /** Set when the payload is well-formed but holds more items than allowed. */
    readonly overBudget = false,
  ) {
    super(message)
  }
}

/** The violation of a payload over `maxItems` data items. */
function overBudget(maxItems: number): ProfileViolation {
  return new ProfileViolation(`more than ${maxItems} data items (maxFrameItems)`, true)
}

/** @returns whether `extraTag` occurs. */
function scan(bytes: Uint8Array, maxItems: number, extraTag: number): boolean {
  let seenExtraTag = false
  const end = bytes.byteLength
  let pos = 0
  /** Data items the payload may still hold, the top-level one already counted. */
  let budget = maxItems - 1
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
        if ((budget -= items) < 0) throw overBudget(maxItems)
        if (pending.length >= MAX_NESTING) throw invalid('nested too deeply')
        pending.push(remaining)
        remaining = items
        break
      }
      case 6:
        if (argument === extraTag) seenExtraTag = true
        else if (!isAllowedTag(argument)) throw invalid(`tag ${argument} is not allowed`)
        if ((budget -= argument === TAG_ERROR_VALUE ? 1 + ERROR_VALUE_ITEMS : 1) < 0) throw overBudget(maxItems)
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
  return seenExtraTag
}

function invalid(detail: string): ProfileViolation {
  return new ProfileViolation(detail)
}
