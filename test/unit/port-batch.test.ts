/**
 * The port messages of the `batch` feature (PROTOCOL.md section 2.2): what the sender packs (bounds,
 * what travels apart, what is transferred) and every way the receiver refuses a malformed batch.
 */
import { describe, expect, test } from 'vitest'
import { Codec } from '../../src/protocol/codec.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'
import {
  APART_FROM,
  KEPT_MAX,
  MAX_BATCH_APART,
  MAX_BATCH_PAYLOADS,
  TRANSFER_FROM,
  pack,
  postedCopy,
  single,
  unpack,
  type Post,
} from '../../src/transports/port-batch.js'

const codec = new Codec()
const hex = (payload: Payload): string => Buffer.from(joinPayload(payload)).toString('hex')
const word = (value: number): number[] => [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]

/** What the receiving side reads from posts, as hex payloads. */
function received(posts: Post[], maxFrameSize = 64 * 1024 * 1024): string[] {
  const payloads: string[] = []
  for (const { data } of posts) {
    if (data instanceof Uint8Array) payloads.push(hex(data))
    else {
      const unpacked = unpack(data, maxFrameSize)
      if (typeof unpacked === 'string') throw new Error(unpacked)
      payloads.push(...unpacked.map(hex))
    }
  }
  return payloads
}

function problem(batch: unknown[], maxFrameSize = 1 << 20): string {
  const result = unpack(batch, maxFrameSize)
  expect(typeof result).toBe('string')
  return result as string
}

describe('pack', () => {
  test('a lone payload is a Uint8Array in a buffer of its own, cloned when small, transferred when not', () => {
    const small = codec.encode([4, 1, 'x'] as never)
    const [post] = pack([small], true)
    expect(post.data).toBeInstanceOf(Uint8Array)
    const bytes = post.data as Uint8Array
    expect(hex(bytes)).toBe(hex(small))
    // Not a view of the codec's shared buffer: a clone would copy all of it.
    expect(bytes.byteLength).toBe(bytes.buffer.byteLength)
    expect(post.transfer).toEqual([])
    const large = codec.encode([4, 1, 'x'.repeat(TRANSFER_FROM)] as never)
    const [big] = pack([large], true)
    expect(big.transfer).toHaveLength(1)
    expect(big.transfer[0]).toBe((big.data as Uint8Array).buffer)
    expect(pack([large], false)[0].transfer).toEqual([])
  })

  test("the payloads of one call leave in one batch, in order, the records' buffer transferred from 4 KiB", () => {
    const payloads = Array.from({ length: 100 }, (_, i) => codec.encode([4, i, `r${i}`] as never))
    const posts = pack(payloads, true)
    expect(posts).toHaveLength(1)
    expect(Array.isArray(posts[0].data)).toBe(true)
    expect(received(posts)).toEqual(payloads.map(hex))
    expect(posts[0].transfer).toHaveLength(0)
    const many = Array.from({ length: 1000 }, (_, i) => codec.encode([4, i, `r${i}`] as never))
    const [post] = pack(many, true)
    expect(post.transfer).toHaveLength(1)
    expect(post.transfer[0]).toBe(((post.data as unknown[])[0] as Uint8Array).buffer)
  })

  test(`at most ${MAX_BATCH_PAYLOADS} payloads and about 256 KiB of records a post`, () => {
    const payloads = Array.from({ length: MAX_BATCH_PAYLOADS * 2 + 1 }, (_, i) => codec.encode([4, i, null] as never))
    const posts = pack(payloads, true)
    expect(posts.map((post) => (Array.isArray(post.data) ? 'batch' : 'single'))).toEqual(['batch', 'batch', 'single'])
    expect(received(posts)).toEqual(payloads.map(hex))
    const large = Array.from({ length: 10 }, (_, i) => codec.encode([4, i, 'y'.repeat(60_000)] as never))
    const split = pack(large, true)
    expect(split.length).toBeGreaterThanOrEqual(3)
    expect(received(split)).toEqual(large.map(hex))
  })

  test('large binaries travel apart, copied once into a buffer of their own that is transferred', () => {
    const big = new Uint8Array(APART_FROM).fill(3)
    const payload = codec.encodeData([4, 1, { big }] as never, 2)
    const [post] = pack([payload, codec.encode([4, 2, 0] as never)], true)
    const data = post.data as Uint8Array[]
    expect(data).toHaveLength(2)
    expect(data[1] === big).toBe(false)
    expect(post.transfer).toHaveLength(1)
    expect(post.transfer[0]).toBe(data[1].buffer)
    expect(big.byteLength).toBe(APART_FROM)
    expect(received([post])).toEqual([hex(payload), hex(codec.encode([4, 2, 0] as never))])
  })

  test('a port that cannot transfer: nothing in a transfer list, small values copied into the records', () => {
    const marked = new Uint8Array(10).fill(1)
    const big = new Uint8Array(APART_FROM + 1)
    const payload = codec.encodeData([2, 1, 'f', [marked, big, big.subarray(1)]] as never, 3)
    const [post] = pack([payload, payload], false)
    expect(post.transfer).toEqual([])
    const data = post.data as Uint8Array[]
    // Only the large ones go apart; one that is its whole buffer as it is (the clone is its copy).
    expect(data.slice(1).map((piece) => piece.byteLength)).toEqual([APART_FROM + 1, APART_FROM, APART_FROM + 1, APART_FROM])
    expect(data[1]).toBe(big)
    expect(data[2] === big).toBe(false)
    expect(received([post])).toEqual([hex(payload), hex(payload)])
  })
})

describe('unpack refuses', () => {
  const records = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes)

  test('a batch that does not start with a Uint8Array, or holds anything else', () => {
    expect(problem([])).toMatch(/does not start with a Uint8Array/)
    expect(problem(['x'])).toMatch(/does not start with a Uint8Array/)
    expect(problem([new Uint16Array(4)])).toMatch(/does not start with a Uint8Array/)
    expect(problem([records(...word(1), 0xf6), { bytes: 1 }])).toMatch(/element 1 of a batch is not a Uint8Array/)
  })

  test('records that run past the end, or continue past the last content', () => {
    expect(problem([records(0, 0, 0)])).toMatch(/header runs past the end/)
    expect(problem([records(...word(2), 0xf6)])).toMatch(/a record of 2 bytes runs past the end/)
    expect(problem([records(...word(0x80000001), 0x81)])).toMatch(/goes on past the last content/)
  })

  test('contents nobody uses, empty payloads, no payload at all', () => {
    expect(problem([records(...word(1), 0xf6), new Uint8Array(1)])).toMatch(/1 contents apart that no record uses/)
    expect(problem([records(...word(0))])).toMatch(/an empty payload/)
    expect(problem([records()])).toMatch(/no payload/)
  })

  test('a payload over maxFrameSize, in the records or with its contents apart', () => {
    expect(problem([records(...word(5), 1, 2, 3, 4, 5)], 4)).toMatch(/a payload of 5 bytes or more exceeds maxFrameSize \(4\)/)
    expect(problem([records(...word(0x80000001), 0x81, ...word(0)), new Uint8Array(4)], 4)).toMatch(/exceeds maxFrameSize/)
  })

  test(`more than ${MAX_BATCH_PAYLOADS} payloads, or ${MAX_BATCH_APART} contents apart`, () => {
    const one = [...word(1), 0xf6]
    const full = records(...Array.from({ length: MAX_BATCH_PAYLOADS }, () => one).flat())
    expect(unpack([full], 1024)).toHaveLength(MAX_BATCH_PAYLOADS)
    expect(problem([records(...full, ...one)])).toMatch(/more than 1024 payloads/)
    const apart = Array.from({ length: MAX_BATCH_APART + 1 }, () => new Uint8Array(1))
    expect(problem([records(...one), ...apart])).toMatch(/1025 contents apart, more than 1024/)
  })
})

test('a single post copies a payload in chunks into one buffer', () => {
  const payload = codec.encodeData([4, 1, new Uint8Array(APART_FROM).fill(9)] as never, 2)
  const post = single(payload, true)
  expect(hex(post.data as Uint8Array)).toBe(hex(payload))
  expect(post.transfer).toHaveLength(1)
  expect(post.transfer[0]).toBe((post.data as Uint8Array).buffer)
})

describe('small payloads posted from a buffer kept for their size', () => {
  test('the copy is exact, in a buffer of its own size, and the same buffer serves the next payload of that size', () => {
    const first = postedCopy(new Uint8Array([1, 2, 3]).subarray(1))
    expect([...first]).toEqual([2, 3])
    expect(first.byteOffset).toBe(0)
    expect(first.buffer.byteLength).toBe(2)
    const kept = first.buffer
    const second = postedCopy(Uint8Array.of(7, 8))
    expect(second.buffer).toBe(kept)
    expect([...second]).toEqual([7, 8])
    expect(postedCopy(Uint8Array.of(1, 2, 3)).buffer).not.toBe(kept)
    expect(postedCopy(new Uint8Array(KEPT_MAX)).buffer.byteLength).toBe(KEPT_MAX)
  })
})
