/**
 * transfer() in the codec: a listed buffer's values become chunks of their own (whatever their size,
 * on the fast path and on cbor-x's), marked for a port to transfer, with the bytes on the wire
 * unchanged; the marks are used up by the message that carries them; the receiver builds typed arrays
 * from contents that travelled apart. The port side is tested over real ports (links/transfer.test.ts).
 */
import { describe, expect, test } from 'vitest'
import { Codec } from '../../src/protocol/codec.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'
import { isTransferable, pendingTransfers, transfer } from '../../src/protocol/transfer.js'

const codec = new Codec()
const hex = (payload: Payload): string => Buffer.from(joinPayload(payload)).toString('hex')
const encode = (value: unknown): Payload => codec.encodeData([4, 1, value] as never, 2)
const chunksOf = (payload: Payload): readonly Uint8Array[] => (payload instanceof Uint8Array ? [payload] : payload)

/** A class instance sends a message to cbor-x instead of the fast path. */
class Point {
  x = 1
}

describe('encoding a listed buffer', () => {
  test.each([
    ['a Uint8Array', () => Uint8Array.of(1, 2, 3)],
    ['a Buffer', () => Buffer.from([1, 2, 3])],
    ['a Float64Array', () => new Float64Array([1.5, 2])],
    ['a view of 300 bytes in the middle of its buffer', () => new Uint8Array(1000).fill(7).subarray(100, 400)],
    ['an ArrayBuffer, on the general path', () => new Uint8Array(300).fill(5).buffer],
  ])('%s: a chunk of its own, marked, the same bytes on the wire', (_, make) => {
    const plain = encode([make(), new Point()])
    const value = make()
    const buffer = value instanceof ArrayBuffer ? value : (value as Uint8Array).buffer
    const payload = encode(transfer([value, new Point()], [buffer as ArrayBuffer]))
    expect(hex(payload)).toBe(hex(plain))
    const marked = chunksOf(payload).filter(isTransferable)
    expect(marked).toHaveLength(1)
    expect(marked[0].buffer).toBe(buffer)
    // Fast path too, where the value allows it.
    if (!(value instanceof ArrayBuffer)) {
      const again = make()
      const fast = encode(transfer(again, [(again as Uint8Array).buffer as ArrayBuffer]))
      expect(hex(fast)).toBe(hex(encode(make())))
      expect(chunksOf(fast).filter(isTransferable)).toHaveLength(1)
    }
  })

  test('the mark is used up by the first message that carries the buffer, not by one that does not', () => {
    const before = pendingTransfers
    const bytes = Uint8Array.of(1, 2, 3)
    transfer(bytes)
    transfer(bytes)
    expect(pendingTransfers).toBe(before + 1)
    expect(chunksOf(encode('unrelated')).some(isTransferable)).toBe(false)
    expect(pendingTransfers).toBe(before + 1)
    expect(chunksOf(encode([bytes, bytes])).filter(isTransferable)).toHaveLength(2)
    expect(pendingTransfers).toBe(before)
    expect(encode(bytes)).toBeInstanceOf(Uint8Array)
  })

  test('the chunk is a view of its own: the application value carries no mark', () => {
    const bytes = Uint8Array.of(1, 2, 3)
    const payload = encode(transfer(bytes))
    const [chunk] = chunksOf(payload).filter(isTransferable)
    expect(chunk).not.toBe(bytes)
    expect(isTransferable(bytes)).toBe(false)
  })

  test('what transfer() refuses', () => {
    expect(() => transfer({ a: 1 })).toThrow(TypeError)
    expect(() => transfer(new Uint8Array(new SharedArrayBuffer(4)))).toThrow(TypeError)
    expect(() => transfer(1, [new SharedArrayBuffer(4) as never])).toThrow(TypeError)
    expect(() => transfer(1, [{} as never])).toThrow(/ArrayBuffers to transfer/)
    const value = { a: 1 }
    expect(transfer(value, [])).toBe(value)
  })
})

describe('decoding contents that travelled apart', () => {
  /** The pieces a port delivers: every marked chunk apart, the rest joined around them. */
  function pieces(payload: Payload): Uint8Array[] {
    const result: Uint8Array[] = []
    let merged: Uint8Array[] = []
    for (const chunk of chunksOf(payload)) {
      if (isTransferable(chunk)) {
        result.push(joinPayload(merged), chunk)
        merged = []
      } else merged.push(chunk)
    }
    result.push(joinPayload(merged))
    return result
  }

  test('typed arrays are views of the content when it is aligned for them, copies otherwise', () => {
    const floats = new Float64Array([1.5, -2, 3.25])
    const aligned = codec.decodePieces(pieces(encode(transfer(floats)))) as [number, number, Float64Array]
    expect(aligned[2]).toEqual(new Float64Array([1.5, -2, 3.25]))
    expect(aligned[2].buffer).toBe(floats.buffer)
    const odd = new Uint8Array(8 * 3 + 1).subarray(1)
    new Float64Array(odd.slice().buffer).set([4, 5, 6])
    const content = new Uint8Array(odd.byteLength)
    content.set(new Uint8Array(new Float64Array([4, 5, 6]).buffer))
    odd.set(content)
    const [head, , tail] = pieces(encode(transfer(new Float64Array([4, 5, 6]))))
    const copied = codec.decodePieces([head, odd, tail]) as [number, number, Float64Array]
    expect(copied[2]).toEqual(new Float64Array([4, 5, 6]))
    expect(copied[2].buffer).not.toBe(odd.buffer)
  })
})
