/**
 * The CBOR codec. One encoder and one decoder per channel, with every cbor-x option that changes the
 * bytes on the wire set explicitly here, so that the encoding does not depend on cbor-x defaults or on
 * anything another module registered globally.
 */
import { Decoder, Encoder, type Options } from 'cbor-x'
import { ProtocolError, SerializationError } from './errors.js'
import type { Message } from './messages.js'
import { checkProfile, MAX_BIGNUM_BYTES, profileViolation } from './profile.js'

/**
 * The wire encoding: plain RFC 8949 CBOR with registered tags only (1 epoch date, 2/3 bignum,
 * 64-87 typed arrays per RFC 8746, 258 set, 259 map with any keys), so a peer in another language can
 * speak it. Records and structure sharing (cbor-x extensions) are off.
 */
export const CODEC_OPTIONS: Readonly<Options> = Object.freeze({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  // Map headers sized to the map: with a fixed 2-byte count, objects of 65,536 keys or more would be
  // written as corrupt frames.
  variableMapSize: true,
  useTag259ForMaps: true,
  tagUint8Array: true,
  largeBigIntToFloat: false,
  useFloat32: 0,
  bundleStrings: false,
  pack: false,
  // Decoded byte strings are views of the received frame: no copy for large binary payloads.
  copyBuffers: false,
})

/** Encodes and decodes whole messages for one channel. */
export class Codec {
  readonly #encoder: Encoder
  readonly #decoder: Decoder

  constructor() {
    this.#encoder = new Encoder(CODEC_OPTIONS)
    this.#decoder = new Decoder(CODEC_OPTIONS)
  }

  /**
   * Encodes a message to one payload.
   * @throws SerializationError when a value cannot be encoded (a function, a symbol, a cycle).
   */
  encode(message: Message): Uint8Array {
    let payload: Uint8Array
    try {
      payload = this.#encoder.encode(message)
    } catch (error) {
      throw new SerializationError(describeEncodeFailure(error), { cause: error })
    }
    // What the peer would refuse (an oversized bignum, an Error value named like a prototype member)
    // fails here, for this message only. Such a message is larger than the bignum cap, so small
    // messages, nearly all of them, skip the scan.
    if (payload.byteLength > MAX_BIGNUM_BYTES) {
      const problem = profileViolation(payload)
      if (problem !== undefined) throw new SerializationError(`value cannot be sent: ${problem}`)
    }
    return payload
  }

  /** Whether `value` can be encoded; used to drop what cannot travel from an error's properties. */
  canEncode(value: unknown): boolean {
    try {
      this.#encoder.encode(value)
      return true
    } catch {
      return false
    }
  }

  /**
   * Decodes one payload, after checking it keeps to the profile (see profile.ts).
   * @throws ProtocolError when the payload is not well-formed CBOR within the profile.
   */
  decode(payload: Uint8Array): unknown {
    checkProfile(payload)
    try {
      return this.#decoder.decode(payload)
    } catch (error) {
      throw new ProtocolError(`malformed CBOR payload: ${(error as Error)?.message ?? String(error)}`, { cause: error })
    }
  }
}

function describeEncodeFailure(error: unknown): string {
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return 'value cannot be serialized: it is cyclic or nested too deeply'
  }
  const detail = (error as Error)?.message ?? String(error)
  return `value cannot be serialized: ${detail}`
}
