import { describe, expect, test } from 'vitest'
import { Codec, LARGE_BINARY } from '../../src/protocol/codec.js'
import { FrameDecoder, joinPayload, payloadLength } from '../../src/protocol/framing.js'
import { MessageType, type Message } from '../../src/protocol/messages.js'
import { equalBytes } from '../helpers/byte-equality.js'

expect.addEqualityTesters([equalBytes])

function filled(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff
  return bytes
}

describe('large binary values are sent as their own chunks', () => {
  test('values at every searched position come back equal, with their classes', () => {
    const codec = new Codec()
    const top = filled(LARGE_BINARY, 1)
    const buffer = Buffer.from(filled(LARGE_BINARY + 5, 2))
    const nested = filled(3 * LARGE_BINARY, 3)
    const small = filled(10, 4)
    const deeper = filled(LARGE_BINARY, 8)
    // top: in the arguments; buffer and nested: one level inside; deeper: two levels inside.
    const args = [top, { buffer, nested, list: [deeper, small] }, 'text']
    const payload = codec.encodeData([MessageType.Call, 7, 'upload', args], 3)
    // Four large values, each a chunk of its own: the very same objects, not copies. The fast path
    // finds them at any depth.
    expect(Array.isArray(payload)).toBe(true)
    const chunks = payload as Uint8Array[]
    expect(chunks).toContain(top)
    expect(chunks).toContain(buffer)
    expect(chunks).toContain(nested)
    expect(chunks).toContain(deeper)
    // Over a socket a frame is a Buffer, and untagged byte strings decode as views of it.
    const decoded = codec.decode(Buffer.from(joinPayload(payload))) as [
      number,
      number,
      string,
      [Uint8Array, { buffer: Buffer; nested: Uint8Array; list: Uint8Array[] }, string],
    ]
    expect(decoded.slice(0, 3)).toEqual([MessageType.Call, 7, 'upload'])
    const [first, object, text] = decoded[3]
    expect(first).toEqual(top)
    expect(first.constructor).not.toBe(Buffer)
    expect(Buffer.isBuffer(object.buffer)).toBe(true)
    expect(Buffer.compare(object.buffer, buffer)).toBe(0)
    expect(object.nested).toEqual(nested)
    expect(object.list[0]).toEqual(deeper)
    expect(object.list[1]).toEqual(small)
    expect(text).toBe('text')
  })

  test('values cbor-x encodes are searched two levels deep, and come back equal', () => {
    const codec = new Codec()
    const top = filled(LARGE_BINARY, 11)
    const nested = filled(LARGE_BINARY + 1, 12)
    const deeper = filled(LARGE_BINARY + 2, 13)
    // The RegExp sends the whole message through cbor-x, around markers for the large values it finds.
    const pattern = /^(up|down)load$/i
    const args = [top, { nested, pattern, list: [deeper] }]
    const payload = codec.encodeData([MessageType.Call, 8, 'upload', args], 3)
    const chunks = payload as Uint8Array[]
    expect(chunks).toContain(top)
    expect(chunks).toContain(nested)
    expect(chunks).not.toContain(deeper)
    const decoded = codec.decode(Buffer.from(joinPayload(payload))) as [number, number, string, unknown[]]
    expect(decoded[3]).toEqual(args)
  })

  test('the caller’s arguments are not modified', () => {
    const codec = new Codec()
    const big = filled(LARGE_BINARY, 5)
    const args = [{ big }]
    codec.encodeData([MessageType.Call, 1, 'x', args], 3)
    expect(args[0].big).toBe(big)
  })

  test('small values and plain results stay one buffer', () => {
    const codec = new Codec()
    expect(codec.encodeData([MessageType.Result, 1, filled(LARGE_BINARY - 1, 6)], 2)).toBeInstanceOf(Uint8Array)
    expect(codec.encodeData([MessageType.Result, 1, { a: 1 }], 2)).toBeInstanceOf(Uint8Array)
  })

  test('a chunked payload framed and fed back one piece at a time decodes to the same message', () => {
    const codec = new Codec()
    const value = filled(2 * LARGE_BINARY, 7)
    const message: Message = [MessageType.Result, 3, value]
    const payload = codec.encodeData(message, 2)
    const length = payloadLength(payload)
    const header = new Uint8Array([length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff])
    const decoder = new FrameDecoder(16 * 1024 * 1024)
    const frames: Uint8Array[] = []
    for (const chunk of [header, ...(payload as Uint8Array[])]) decoder.push(chunk, (frame) => frames.push(frame))
    expect(frames).toHaveLength(1)
    expect(codec.decode(frames[0])).toEqual([MessageType.Result, 3, value])
  })
})
