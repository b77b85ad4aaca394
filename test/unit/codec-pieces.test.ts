/**
 * Payloads in pieces, as a message port may carry them: the codec decodes the concatenation, taking
 * byte-string contents that travelled apart as the values themselves.
 */
import { describe, expect, test } from 'vitest'
import { Codec, LARGE_BINARY } from '../../src/protocol/codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'
import { mulberry32 } from '../helpers/random.js'

const codec = new Codec()

/** The pieces a port sends: chunks of LARGE_BINARY bytes or more apart, the others merged around them. */
function piecesOf(payload: Payload): Uint8Array[] {
  if (payload instanceof Uint8Array) return [payload]
  const pieces: Uint8Array[] = []
  let merged: Uint8Array[] = []
  for (const chunk of payload) {
    if (chunk.byteLength >= LARGE_BINARY) {
      pieces.push(joinPayload(merged), chunk)
      merged = []
    } else merged.push(chunk)
  }
  pieces.push(joinPayload(merged))
  return pieces
}

/** The bytes of `value` encoded: a quick deep comparison of values that hold large byte strings. */
const reencoded = (value: unknown): string => Buffer.from(joinPayload(codec.encodeData(value as never, 2))).toString('hex')
const hex = (payload: Payload): string => Buffer.from(joinPayload(payload)).toString('hex')

/** A port delivers plain Uint8Arrays, whatever was posted (a Buffer arrives as one). */
const delivered = (pieces: Uint8Array[]): Uint8Array[] => pieces.map((piece) => new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength))

const bytes = (length: number, seed = 1): Uint8Array => {
  const random = mulberry32(seed)
  return Uint8Array.from({ length }, () => Math.floor(random() * 256))
}

describe('decodePieces', () => {
  test('contents apart are the decoded values themselves, at any depth, tagged or not', () => {
    const a = bytes(LARGE_BINARY, 1)
    const b = Buffer.from(bytes(LARGE_BINARY + 5, 2))
    const c = bytes(LARGE_BINARY * 2, 3)
    const message = [4, 7, { a, list: [1, b, 'x', { deep: [c] }], after: 'end' }] as const
    const pieces = delivered(piecesOf(codec.encodeData(message as never, 2)))
    expect(pieces).toHaveLength(7)
    const decoded = codec.decodePieces(pieces) as [number, number, { a: Uint8Array; list: [number, Uint8Array, string, { deep: Uint8Array[] }] }]
    expect(reencoded(decoded)).toBe(reencoded(codec.decode(joinPayload(pieces))))
    expect(decoded[2].a).toBe(pieces[1])
    expect(decoded[2].a.constructor).toBe(Uint8Array)
    expect(decoded[2].list[1]).toBe(pieces[3])
    expect(decoded[2].list[3].deep[0]).toBe(pieces[5])
  })

  test('a content apart that is a Buffer decodes as a plain Uint8Array when it was tagged', () => {
    const big = bytes(LARGE_BINARY)
    const pieces = piecesOf(codec.encodeData([4, 1, big], 2))
    pieces[1] = Buffer.from(pieces[1])
    const decoded = codec.decodePieces(pieces) as unknown[]
    expect((decoded[2] as Uint8Array).constructor).toBe(Uint8Array)
    expect(hex(decoded[2] as Uint8Array)).toBe(hex(big))
  })

  test('pieces split anywhere else decode as their concatenation', () => {
    const random = mulberry32(42)
    const message = [2, 9, 'put', [bytes(LARGE_BINARY, 4), 'text', { n: 1.5, big: bytes(LARGE_BINARY + 1, 5) }, [1, 2, 3]]]
    const whole = joinPayload(codec.encodeData(message as never, 3))
    const expected = codec.decode(whole)
    for (let round = 0; round < 100; round++) {
      const cuts = [...new Set(Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * whole.byteLength)))].sort(
        (x, y) => x - y,
      )
      const pieces: Uint8Array[] = []
      let from = 0
      for (const cut of cuts) {
        pieces.push(whole.subarray(from, cut))
        from = cut
      }
      pieces.push(whole.subarray(from))
      expect(reencoded(codec.decodePieces(pieces))).toBe(reencoded(expected))
    }
  })

  test('a content apart of the wrong length is decoded as the concatenation says: here, a ProtocolError', () => {
    const pieces = piecesOf(codec.encodeData([4, 1, bytes(LARGE_BINARY)], 2))
    pieces[1] = pieces[1].subarray(1)
    expect(() => codec.decodePieces(pieces)).toThrow(ProtocolError)
  })

  test('what the fast path leaves to cbor-x is decoded from the concatenation', () => {
    const big = bytes(LARGE_BINARY)
    // A RegExp (tag 27): cbor-x's alone, on both sides.
    const message = [4, 1, { pattern: /x+/g, big }]
    const pieces = piecesOf(codec.encodeData(message as never, 2))
    expect(pieces).toHaveLength(3)
    const decoded = codec.decodePieces(pieces) as [number, number, { pattern: RegExp; big: Uint8Array }]
    expect(decoded[2].pattern).toEqual(/x+/g)
    expect(hex(decoded[2].big)).toBe(hex(big))
  })
})
