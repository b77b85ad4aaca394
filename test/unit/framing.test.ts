import { describe, expect, test } from 'vitest'
import { ProtocolError } from '../../src/protocol/errors.js'
import { FrameDecoder, HEADER_SIZE, MAX_FRAME_LENGTH, encodeHeader, writeHeader } from '../../src/protocol/framing.js'
import { equalBytes } from '../helpers/byte-equality.js'

expect.addEqualityTesters([equalBytes])

const MiB = 1024 * 1024

/** Header and payload in one buffer. */
function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.byteLength)
  writeHeader(out, 0, payload.byteLength)
  out.set(payload, HEADER_SIZE)
  return out
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** A payload whose bytes depend on `seed` and position, so that misplaced bytes show. */
function payloadOf(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + 1) & 0xff
  return out
}

/** Feeds `chunks` and returns copies of every payload emitted. */
function decodeAll(chunks: Uint8Array[], maxFrameSize = MiB, decoder = new FrameDecoder(maxFrameSize)): Uint8Array[] {
  const frames: Uint8Array[] = []
  for (const chunk of chunks) decoder.push(chunk, (payload) => frames.push(payload.slice()))
  return frames
}

describe('frame header', () => {
  test('is a big-endian uint32 of the payload length', () => {
    expect([...encodeHeader(0)]).toEqual([0, 0, 0, 0])
    expect([...encodeHeader(0x01020304)]).toEqual([1, 2, 3, 4])
    expect([...encodeHeader(MAX_FRAME_LENGTH)]).toEqual([0xff, 0xff, 0xff, 0xff])
  })

  test('writeHeader writes at an offset and leaves the rest alone', () => {
    const target = new Uint8Array(8).fill(9)
    writeHeader(target, 2, 258)
    expect([...target]).toEqual([9, 9, 0, 0, 1, 2, 9, 9])
  })
})

describe('FrameDecoder', () => {
  const payloads = [payloadOf(1, 1), payloadOf(300, 2), payloadOf(5, 3), payloadOf(70_000, 4)]
  const stream = concat(payloads.map(frame))

  test('fed one byte at a time, emits every frame once, in order', () => {
    const chunks = Array.from({ length: stream.byteLength }, (_, i) => stream.subarray(i, i + 1))
    expect(decodeAll(chunks)).toEqual(payloads)
  })

  test('emits many frames from one chunk', () => {
    const many = Array.from({ length: 100 }, (_, i) => payloadOf(i + 1, i))
    expect(decodeAll([concat(many.map(frame))])).toEqual(many)
  })

  test('reassembles frames split across two chunks at every offset', () => {
    const small = [payloadOf(3, 1), payloadOf(17, 2), payloadOf(1, 3)]
    const bytes = concat(small.map(frame))
    for (let split = 0; split <= bytes.byteLength; split++) {
      const frames = decodeAll([bytes.subarray(0, split), bytes.subarray(split)])
      expect(frames, `split at ${split}`).toEqual(small)
    }
  })

  test('reassembles frames split into three chunks at every pair of offsets', () => {
    const small = [payloadOf(6, 1), payloadOf(2, 2)]
    const bytes = concat(small.map(frame))
    for (let a = 0; a <= bytes.byteLength; a++) {
      for (let b = a; b <= bytes.byteLength; b++) {
        const frames = decodeAll([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)])
        expect(frames, `split at ${a} and ${b}`).toEqual(small)
      }
    }
  })

  test('an empty chunk is ignored', () => {
    const decoder = new FrameDecoder(MiB)
    const frames: Uint8Array[] = []
    decoder.push(new Uint8Array(0), (payload) => frames.push(payload))
    expect(frames).toEqual([])
    expect(decoder.buffered).toBe(0)
  })

  test('a zero-length frame followed by another frame in the same chunk', () => {
    const bytes = concat([frame(new Uint8Array(0)), frame(payloadOf(3))])
    expect(decodeAll([bytes])).toEqual([new Uint8Array(0), payloadOf(3)])
  })

  test('a zero-length frame that ends its chunk is emitted as an empty payload', () => {
    expect(decodeAll([frame(new Uint8Array(0))])).toEqual([new Uint8Array(0)])
  })

  test('a zero-length frame after a frame in the same chunk, at the end of the chunk', () => {
    const bytes = concat([frame(payloadOf(3)), frame(new Uint8Array(0))])
    expect(decodeAll([bytes])).toEqual([payloadOf(3), new Uint8Array(0)])
  })

  test('a truncated header emits nothing until it is complete', () => {
    const decoder = new FrameDecoder(MiB)
    const frames: Uint8Array[] = []
    const onFrame = (payload: Uint8Array): void => void frames.push(payload.slice())
    const bytes = frame(payloadOf(2))
    decoder.push(bytes.subarray(0, 1), onFrame)
    decoder.push(bytes.subarray(1, 3), onFrame)
    expect(frames).toEqual([])
    expect(decoder.buffered).toBe(3)
    decoder.push(bytes.subarray(3, 4), onFrame)
    expect(frames).toEqual([])
    decoder.push(bytes.subarray(4, 5), onFrame)
    expect(frames).toEqual([])
    decoder.push(bytes.subarray(5), onFrame)
    expect(frames).toEqual([payloadOf(2)])
    expect(decoder.buffered).toBe(0)
  })

  test('a header announcing more than maxFrameSize throws a ProtocolError at once, before the payload', () => {
    const decoder = new FrameDecoder(MiB)
    const onFrame = (): void => {
      throw new Error('no frame expected')
    }
    // 0xffffffff: a 4 GiB announcement, thrown on the header alone.
    expect(() => decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]), onFrame)).toThrow(ProtocolError)
    expect(() => new FrameDecoder(MiB).push(encodeHeader(MiB + 1), onFrame)).toThrowErrorMatchingInlineSnapshot(
      `[ProtocolError: frame of 1048577 bytes exceeds the limit of 1048576 bytes]`,
    )
  })

  test('the oversized header is detected even when it arrives a byte at a time', () => {
    const decoder = new FrameDecoder(16)
    const header = encodeHeader(17)
    for (let i = 0; i < 3; i++) decoder.push(header.subarray(i, i + 1), () => {})
    let thrown: unknown
    try {
      decoder.push(header.subarray(3), () => {})
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ProtocolError)
    expect((thrown as ProtocolError).code).toBe('ERR_PROTOCOL')
  })

  test('a frame of exactly maxFrameSize is accepted', () => {
    const payload = payloadOf(64)
    expect(decodeAll([frame(payload)], 64)).toEqual([payload])
  })

  test('a frame that lies inside one chunk is a view of that chunk, not a copy', () => {
    const payload = payloadOf(1000)
    const bytes = concat([frame(payloadOf(10)), frame(payload)])
    const views: Uint8Array[] = []
    new FrameDecoder(MiB).push(bytes, (view) => views.push(view))
    expect(views).toHaveLength(2)
    expect(views[1].buffer).toBe(bytes.buffer)
    expect(views[1].byteOffset).toBe(HEADER_SIZE + 10 + HEADER_SIZE)
    expect(views[1]).toEqual(payload)
    // Writing through the chunk shows through the view: it shares the memory.
    bytes[HEADER_SIZE + 10 + HEADER_SIZE] ^= 0xff
    expect(views[1][0]).toBe(payload[0] ^ 0xff)
  })

  test('a frame that spans chunks is copied into a fresh buffer holding exactly the payload', () => {
    const bytes = frame(payloadOf(100))
    const views: Uint8Array[] = []
    const decoder = new FrameDecoder(MiB)
    decoder.push(bytes.subarray(0, 50), (view) => views.push(view))
    decoder.push(bytes.subarray(50), (view) => views.push(view))
    expect(views).toHaveLength(1)
    expect(views[0].buffer).not.toBe(bytes.buffer)
    expect(views[0]).toEqual(payloadOf(100))
  })

  test('a sizeable frame in a much larger Buffer chunk is copied out, into memory from the allocator given', () => {
    // A Buffer's own slice() is a view: the copy must not rely on it.
    const payload = payloadOf(5000)
    const chunk = Buffer.concat([frame(payload), Buffer.alloc(100_000)])
    for (const split of [false, true]) {
      const allocated: Uint8Array[] = []
      const decoder = new FrameDecoder(MiB, (length) => {
        const buffer = Buffer.allocUnsafeSlow(length)
        allocated.push(buffer)
        return buffer
      })
      const views: Uint8Array[] = []
      // Whole, the frame is read straight out of the chunk; split, it goes through the held chunks.
      if (split) {
        decoder.push(chunk.subarray(0, 2), (view) => views.push(view))
        decoder.push(chunk.subarray(2, 3 * payload.byteLength), (view) => views.push(view))
      } else {
        decoder.push(chunk.subarray(0, 3 * payload.byteLength), (view) => views.push(view))
      }
      expect(views.length).toBeGreaterThanOrEqual(1)
      expect(views[0].buffer).not.toBe(chunk.buffer)
      expect(views[0].buffer).toBe(allocated.at(-1)!.buffer)
      expect(Buffer.isBuffer(views[0])).toBe(true)
      expect(Buffer.compare(views[0] as Buffer, Buffer.from(payload))).toBe(0)
    }
  })

  test('a large frame fed in 1-byte chunks, or in awkward ones, completes (no quadratic work)', { timeout: 5000 }, () => {
    // Half a million 1-byte chunks take the linear decoder well under a second. Work that grows with
    // the chunks held (an Array#shift per chunk consumed, or joining them on every push) takes a minute
    // or more here, far past this test's timeout. Then 4 MiB, in chunk sizes that split the header and
    // end the payload at an odd place.
    const feeds: [size: number, chunkSizes: number[]][] = [
      [512 * 1024, [1]],
      [4 * MiB, [1, 2, 3, 5, 7, 4093, 4099, 65_537]],
    ]
    for (const [size, chunkSizes] of feeds) {
      const payload = payloadOf(size)
      const bytes = frame(payload)
      const decoder = new FrameDecoder(8 * MiB)
      let received: Uint8Array | undefined
      let count = 0
      // Feed from one backing store: each chunk is a fresh view, as a stream would deliver.
      let offset = 0
      for (let i = 0; offset < bytes.byteLength; i++) {
        const end = offset + chunkSizes[i % chunkSizes.length]
        decoder.push(bytes.subarray(offset, end), (view) => {
          received = view
          count++
        })
        offset = end
      }
      expect(count).toBe(1)
      expect(received?.byteLength).toBe(size)
      expect(Buffer.compare(received!, payload)).toBe(0)
      expect(decoder.buffered).toBe(0)
    }
  })
})

describe('FrameDecoder paused', () => {
  const payloads = Array.from({ length: 6 }, (_, i) => payloadOf(10 + i, i))
  const bytes = concat(payloads.map(frame))

  test('a pause set by a frame stops delivery right after it, in the middle of the chunk; deliverHeld goes on in order', () => {
    const decoder = new FrameDecoder(MiB)
    const frames: Uint8Array[] = []
    const onFrame = (payload: Uint8Array): void => {
      frames.push(payload.slice())
      if (frames.length === 2 || frames.length === 4) decoder.paused = true
    }
    decoder.push(bytes, onFrame)
    expect(frames).toEqual(payloads.slice(0, 2))
    // Everything after the second frame is held, not lost.
    expect(decoder.buffered).toBe(bytes.byteLength - frame(payloads[0]).byteLength - frame(payloads[1]).byteLength)
    // Still paused: nothing moves.
    decoder.deliverHeld(onFrame)
    expect(frames.length).toBe(2)
    decoder.paused = false
    decoder.deliverHeld(onFrame)
    expect(frames).toEqual(payloads.slice(0, 4))
    decoder.paused = false
    decoder.deliverHeld(onFrame)
    expect(frames).toEqual(payloads)
    expect(decoder.buffered).toBe(0)
  })

  test('chunks pushed while paused are held behind the earlier ones, at every split', () => {
    for (let split = 0; split <= bytes.byteLength; split++) {
      const decoder = new FrameDecoder(MiB)
      const frames: Uint8Array[] = []
      const onFrame = (payload: Uint8Array): void => void frames.push(payload.slice())
      decoder.paused = true
      decoder.push(bytes.subarray(0, split), onFrame)
      decoder.push(bytes.subarray(split), onFrame)
      expect(frames).toEqual([])
      decoder.paused = false
      decoder.deliverHeld(onFrame)
      expect(frames).toEqual(payloads)
    }
  })

  test('an oversized header among the held frames throws when delivery reaches it', () => {
    const decoder = new FrameDecoder(64)
    const frames: Uint8Array[] = []
    decoder.paused = true
    decoder.push(concat([frame(payloads[0]), encodeHeader(65)]), (payload) => frames.push(payload))
    decoder.paused = false
    expect(() => decoder.deliverHeld((payload) => frames.push(payload))).toThrow(ProtocolError)
    expect(frames.length).toBe(1)
  })
})

/** Byte equality at memcmp speed, for the megabyte payloads below. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

describe('FrameDecoder, large frames', () => {
  test('a large frame is copied into its own buffer as it arrives, once an eighth of it is held, and the chunks are let go', () => {
    const size = 4 * MiB
    const payload = payloadOf(size, 3)
    const bytes = concat([frame(payload), frame(payloadOf(10, 4))])
    const allocated: number[] = []
    const decoder = new FrameDecoder(8 * MiB, (length) => {
      allocated.push(length)
      return new Uint8Array(length)
    })
    const frames: Uint8Array[] = []
    const step = 64 * 1024
    for (let offset = 0; offset < bytes.byteLength; offset += step) {
      decoder.push(bytes.slice(offset, offset + step), (view) => frames.push(view))
      const received = Math.min(offset + step, bytes.byteLength) - HEADER_SIZE
      if (received < size / 8) expect(decoder.buffered).toBe(received)
      else if (received < size) expect(decoder.buffered).toBe(0)
    }
    // One buffer for the large frame, made once an eighth had arrived; none for anything else.
    expect(allocated).toEqual([size])
    expect(frames.map((view) => view.byteLength)).toEqual([size, 10])
    expect(sameBytes(frames[0], payload) && sameBytes(frames[1], payloadOf(10, 4))).toBe(true)
  })

  test('a large frame is assembled however it is split, and what follows it in the last chunk comes out in order', () => {
    const size = MiB + 3
    const payloads = [payloadOf(size, 1), payloadOf(5, 2), payloadOf(size, 5)]
    const bytes = concat(payloads.map(frame))
    for (const step of [1000, 65_536, 131_075, 700_001]) {
      const frames: Uint8Array[] = []
      const decoder = new FrameDecoder(2 * MiB)
      for (let offset = 0; offset < bytes.byteLength; offset += step)
        decoder.push(bytes.subarray(offset, offset + step), (view) => frames.push(view.slice()))
      expect(frames.length).toBe(payloads.length)
      expect(frames.every((view, i) => sameBytes(view, payloads[i]))).toBe(true)
      expect(decoder.buffered).toBe(0)
    }
  })

  test('a pause while a large frame is assembled holds it once complete; deliverHeld hands it out', () => {
    const size = 2 * MiB
    const bytes = concat([frame(payloadOf(size, 7)), frame(payloadOf(3, 8))])
    const decoder = new FrameDecoder(4 * MiB)
    const frames: Uint8Array[] = []
    const onFrame = (view: Uint8Array): void => void frames.push(view.slice())
    decoder.push(bytes.subarray(0, MiB), onFrame)
    decoder.paused = true
    decoder.push(bytes.subarray(MiB), onFrame)
    expect(frames.length).toBe(0)
    decoder.paused = false
    decoder.deliverHeld(onFrame)
    expect(frames.length).toBe(2)
    expect(sameBytes(frames[0], payloadOf(size, 7)) && sameBytes(frames[1], payloadOf(3, 8))).toBe(true)
  })
})
