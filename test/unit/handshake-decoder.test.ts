import { describe, expect, test } from 'vitest'
import { Handshake } from '../../src/core/handshake.js'
import { Codec } from '../../src/protocol/codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { decodeHandshake, MAX_SKIPPED_NESTING } from '../../src/protocol/handshake-decoder.js'
import { MAGIC, MessageType, PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { mulberry32 } from '../helpers/random.js'

const codec = new Codec()
const encode = (message: unknown[]): Uint8Array => codec.encode(message as never)
const utf8 = (text: string): number[] => [...new TextEncoder().encode(text)]
/** A CBOR text string of fewer than 24 bytes. */
const text = (value: string): number[] => [0x60 + utf8(value).length, ...utf8(value)]

/** `[0, "ipc-channel", 1, null, <options bytes>]`, the options written by hand. */
const helloWith = (...options: number[]): Uint8Array => Uint8Array.from([0x85, 0x00, ...text(MAGIC), 0x01, 0xf6, ...options])

function refusal(payload: Uint8Array): string {
  try {
    decodeHandshake(payload)
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    return (error as Error).message
  }
  throw new Error('accepted')
}

describe('decodeHandshake accepts', () => {
  test.each([
    ['client', undefined],
    ['server', 's3cret'],
    ['auto', 's3cret'],
    ['auto', undefined],
  ] as const)('the hello this library sends (role %s, secret %s)', (role, secret) => {
    const hello = new Handshake(role, secret ? new TextEncoder().encode(secret) : undefined, { window: 64, maxFrameSize: 64 * 1024 * 1024 }).hello()
    const decoded = decodeHandshake(encode(hello))
    expect(decoded).toEqual(hello)
    if (secret) expect(decoded[3]).toBeInstanceOf(Uint8Array)
  })

  test('a maxFrameSize beyond 32 bits, which this library sends as a float64, and other valid option values', () => {
    const hello = [MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, { window: 1, maxFrameSize: 2 ** 40, role: 'server' }]
    expect(decodeHandshake(encode(hello))).toEqual(hello)
    // window 64 as float16, float32: integral numbers, as the general decoder read them.
    expect(decodeHandshake(helloWith(0xa1, ...text('window'), 0xf9, 0x54, 0x00))[4]).toEqual({ window: 64 })
    expect(decodeHandshake(helloWith(0xa1, ...text('window'), 0xfa, 0x42, 0x80, 0x00, 0x00))[4]).toEqual({ window: 64 })
  })

  test('unknown option keys with simple values, strings and small containers (forward compatibility)', () => {
    const hello = [
      MessageType.Hello,
      MAGIC,
      PROTOCOL_VERSION,
      new Uint8Array(32).fill(7),
      {
        window: 8,
        compression: ['zstd', 'lz4'],
        limits: { streams: 4, nested: { deeper: [[1, 2.5, -3, null, true, undefined, 'x'.repeat(1000)]] } },
        flag: false,
        big: 2n ** 40n,
        blob: Buffer.alloc(100),
        role: 'client',
      },
    ]
    expect(decodeHandshake(encode(hello))).toEqual([
      MessageType.Hello,
      MAGIC,
      PROTOCOL_VERSION,
      new Uint8Array(32).fill(7),
      { window: 8, role: 'client' },
    ])
  })

  test('invalid values of known options are ignored, the last of duplicate keys wins', () => {
    const invalid = { window: 'x', maxFrameSize: 1.5, role: 'admin' }
    expect(decodeHandshake(encode([0, MAGIC, 1, null, invalid]))[4]).toEqual({})
    for (const options of [{ window: 0 }, { window: -1 }, { window: [1] }, { window: 2n ** 60n }, { maxFrameSize: 2 ** 53 }, { role: null }]) {
      expect(decodeHandshake(encode([0, MAGIC, 1, null, options]))[4]).toEqual({})
    }
    const duplicates = helloWith(0xa3, ...text('window'), 0x05, ...text('role'), ...text('server'), ...text('window'), 0x06)
    expect(decodeHandshake(duplicates)[4]).toEqual({ window: 6, role: 'server' })
    const lastInvalid = helloWith(0xa2, ...text('window'), 0x05, ...text('window'), 0x60)
    expect(decodeHandshake(lastInvalid)[4]).toEqual({})
  })

  test('options missing or not a map read as none; elements after the defined ones are ignored', () => {
    expect(decodeHandshake(encode([0, MAGIC, 1, null]))).toEqual([0, MAGIC, 1, null, {}])
    for (const options of [null, 5, 'text', [1, 2]]) expect(decodeHandshake(encode([0, MAGIC, 1, null, options]))[4]).toEqual({})
    expect(decodeHandshake(encode([0, MAGIC, 1, null, { window: 3 }, 'future', [7]]))).toEqual([0, MAGIC, 1, null, { window: 3 }])
  })

  test('auth: a 32-byte proof, tagged 64 or not', () => {
    const proof = new Uint8Array(32).map((_, i) => i)
    for (const sent of [proof, Buffer.from(proof)]) {
      const decoded = decodeHandshake(encode([MessageType.Auth, sent]))
      expect(decoded).toEqual([MessageType.Auth, proof])
      expect(decoded[1]).toBeInstanceOf(Uint8Array)
    }
    // Copied out of the frame, so that the frame is not kept alive by it.
    const payload = encode([MessageType.Auth, proof])
    expect((decodeHandshake(payload)[1] as Uint8Array).buffer).not.toBe(payload.buffer)
  })

  test('goodbye: a text reason, or anything else as null', () => {
    expect(decodeHandshake(encode([MessageType.Goodbye, null]))).toEqual([MessageType.Goodbye, null])
    expect(decodeHandshake(encode([MessageType.Goodbye, 'bye']))).toEqual([MessageType.Goodbye, 'bye'])
    expect(decodeHandshake(encode([MessageType.Goodbye]))).toEqual([MessageType.Goodbye, null])
    expect(decodeHandshake(encode([MessageType.Goodbye, { why: 1 }]))).toEqual([MessageType.Goodbye, null])
  })
})

describe('decodeHandshake refuses, with a ProtocolError naming the problem', () => {
  test('Error values (tag 27) or any other tag where options are skipped', () => {
    expect(refusal(encode([0, MAGIC, 1, null, { x: [new Error('a'), new Error('b')] }]))).toMatchInlineSnapshot(
      `"malformed hello: tag 27 in a part that is ignored"`,
    )
    expect(refusal(encode([0, MAGIC, 1, null, { when: new Date(0) }]))).toMatchInlineSnapshot(`"malformed hello: tag 1 in a part that is ignored"`)
    expect(refusal(encode([0, MAGIC, 1, null, {}, new Set([1])]))).toMatchInlineSnapshot(`"malformed hello: tag 258 in a part that is ignored"`)
    expect(refusal(encode([0, MAGIC, 1, null, new Map([[1, 2]])]))).toMatchInlineSnapshot(`"malformed hello: tag 259 in a part that is ignored"`)
    expect(refusal(encode([0, MAGIC, 1, null, { window: new Uint8Array(1) }]))).toMatchInlineSnapshot(
      `"malformed hello: tag 64 in a part that is ignored"`,
    )
    expect(refusal(encode([MessageType.Goodbye, 'bye', new Error('x')]))).toMatchInlineSnapshot(
      `"malformed goodbye: tag 27 in a part that is ignored"`,
    )
  })

  test('containers nested deeper than the bound in an ignored part', () => {
    let value: unknown = 1
    for (let i = 0; i < MAX_SKIPPED_NESTING; i++) value = [value]
    expect(() => decodeHandshake(encode([0, MAGIC, 1, null, { future: value }]))).not.toThrow()
    expect(refusal(encode([0, MAGIC, 1, null, { future: [value] }]))).toMatchInlineSnapshot(
      `"malformed hello: arrays or maps nested deeper than 4 in a part that is ignored"`,
    )
    expect(refusal(encode([MessageType.Auth, new Uint8Array(32), { a: { b: { c: { d: {} } } } }]))).toMatchInlineSnapshot(
      `"malformed auth message: arrays or maps nested deeper than 4 in a part that is ignored"`,
    )
  })

  test('a hello that is not the fixed shape', () => {
    expect(refusal(encode([0, MAGIC, 1]))).toMatchInlineSnapshot(`"malformed hello: 3 elements, expected 5"`)
    expect(refusal(encode([0, 'not-ipc', 1, null, {}]))).toMatchInlineSnapshot(`"not an ipc-channel peer (magic "not-ipc")"`)
    expect(refusal(encode([0, 'x'.repeat(50_000), 1, null, {}]))).toBe(`not an ipc-channel peer (magic "${'x'.repeat(64)}...")`)
    expect(refusal(encode([0, 7, 1, null, {}]))).toMatchInlineSnapshot(`"not an ipc-channel peer (magic is not a text string)"`)
    expect(refusal(encode([0, MAGIC, 2, null, {}]))).toMatchInlineSnapshot(`"protocol version mismatch: this side speaks 1, the peer 2"`)
    expect(refusal(encode([0, MAGIC, '1', null, {}]))).toMatchInlineSnapshot(`"malformed hello: the version is not an unsigned integer"`)
    expect(refusal(Uint8Array.from([0x85, 0x00, ...text(MAGIC), 0xf9, 0x3c, 0x00, 0xf6, 0xa0]))).toMatchInlineSnapshot(
      `"malformed hello: the version is not an unsigned integer"`,
    )
    expect(refusal(encode([0, MAGIC, 1, new Uint8Array(31), {}]))).toMatchInlineSnapshot(`"malformed hello: bad nonce"`)
    expect(refusal(encode([0, MAGIC, 1, 'x'.repeat(32), {}]))).toMatchInlineSnapshot(`"malformed hello: bad nonce"`)
    expect(refusal(encode([0, MAGIC, 1, new Uint16Array(16), {}]))).toMatchInlineSnapshot(`"malformed hello: bad nonce"`)
    expect(refusal(encode([0, MAGIC, 1, undefined, {}]))).toMatchInlineSnapshot(`"malformed hello: bad nonce"`)
    expect(refusal(helloWith(0xa1, 0x01, 0x02))).toMatchInlineSnapshot(`"malformed hello: an option key is not a text string"`)
    expect(refusal(helloWith(0xbf, 0xff))).toMatchInlineSnapshot(`"malformed hello: indefinite length or break"`)
    expect(refusal(helloWith(0xa0, 0x00))).toMatchInlineSnapshot(`"malformed hello: bytes after the end of the message"`)
    expect(refusal(helloWith(0xa1, ...text('window')))).toMatchInlineSnapshot(`"malformed hello: truncated"`)
  })

  test('an auth message that is not [1, bytes(32)]', () => {
    for (const proof of [new Uint8Array(31), new Uint8Array(33), 'x'.repeat(32), null, new Error('x'), [new Uint8Array(32)]]) {
      expect(refusal(encode([MessageType.Auth, proof]))).toBe('malformed auth message')
    }
    expect(refusal(encode([MessageType.Auth]))).toBe('malformed auth message')
  })

  test('anything that is not a handshake message', () => {
    expect(refusal(encode([MessageType.Call, 1, 'f', []]))).toMatchInlineSnapshot(`"message type 2 sent before the handshake completed"`)
    expect(refusal(encode([2.5]))).toMatchInlineSnapshot(`"malformed handshake message: not an array starting with its type"`)
    for (const bytes of [[], [0x80], [0x00], [0xa1, 0x00, 0x00], [0x9f, 0x00, 0xff], [0x9a, 0xff, 0xff, 0xff, 0xff, 0x00]]) {
      expect(refusal(Uint8Array.from(bytes))).toBe('malformed handshake message: not an array starting with its type')
    }
  })

  test('random corruptions of a valid hello: a ProtocolError or a hello, never anything else', () => {
    const valid = encode(new Handshake('client', new Uint8Array([1]), { window: 64, maxFrameSize: 1 << 20 }).hello() as unknown[])
    const random = mulberry32(20_240_601)
    let refused = 0
    for (let i = 0; i < 5000; i++) {
      const payload = valid.slice(0, 1 + Math.floor(random() * valid.byteLength))
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--)
        payload[Math.floor(random() * payload.byteLength)] = Math.floor(random() * 256)
      try {
        expect(decodeHandshake(payload)[0]).toBeTypeOf('number')
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError)
        refused++
      }
    }
    expect(refused).toBeGreaterThan(0)
  })
})

describe('what a 64 KiB hello costs', () => {
  // The default maxHandshakeBytes: the largest frame a peer may send before it has authenticated.
  const LIMIT = 64 * 1024
  /** A hello with the usual options and, under the key "x", an array of `item` repeated to fill 64 KiB. */
  function filled(item: number[]): { payload: Uint8Array; n: number } {
    const head = helloWith(0xa2, ...text('window'), 0x18, 0x40, ...text('x'))
    const n = Math.floor((LIMIT - head.byteLength - 5) / item.length)
    const payload = new Uint8Array(head.byteLength + 5 + n * item.length)
    payload.set(head)
    payload.set([0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff], head.byteLength)
    for (let i = 0; i < n; i++) payload.set(item, head.byteLength + 5 + i * item.length)
    return { payload, n }
  }
  const time = (fn: () => unknown): number => {
    const t0 = process.hrtime.bigint()
    try {
      fn()
    } catch {
      // Refusals are timed too.
    }
    return Number(process.hrtime.bigint() - t0) / 1e6
  }

  test('Error values: the general decoder builds every one; decodeHandshake refuses the frame at the first', () => {
    const { payload, n } = filled([0xd8, 0x1b, 0x82, 0x60, 0x60])
    expect(payload.byteLength).toBeLessThanOrEqual(LIMIT)
    expect(n).toBeGreaterThan(13_000)
    const general = codec.decode(payload.slice()) as [number, string, number, null, { x: unknown[] }]
    expect(general[4].x.filter((value) => value instanceof Error)).toHaveLength(n)
    expect(refusal(payload)).toBe('malformed hello: tag 27 in a part that is ignored')
    const plain = filled([0x01]).payload
    const generalMs = time(() => codec.decode(payload.slice()))
    const plainMs = time(() => codec.decode(plain.slice()))
    const shapeMs = time(() => decodeHandshake(payload))
    const shapePlainMs = time(() => decodeHandshake(plain))
    console.log(
      `64 KiB hello of ${n} Error values: Codec.decode ${generalMs.toFixed(2)} ms, decodeHandshake ${shapeMs.toFixed(3)} ms (refused); ` +
        `of ${plain.byteLength - 30} small integers: Codec.decode ${plainMs.toFixed(2)} ms, decodeHandshake ${shapePlainMs.toFixed(3)} ms`,
    )
  })

  test('whatever an accepted hello holds, decodeHandshake returns the few fields it reads', () => {
    for (const item of [[0x01], [0x81, 0x81, 0x80], [0xa1, 0x60, 0xf6], [0x63, 0x61, 0x62, 0x63], [0xf9, 0x3c, 0x00]]) {
      const { payload } = filled(item)
      const decoded = decodeHandshake(payload)
      expect(decoded).toEqual([MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, { window: 64 }])
    }
  })
})

test('two handshakes complete on what decodeHandshake reads from each other’s frames', async () => {
  const secret = new TextEncoder().encode('s3cret')
  const client = new Handshake('client', secret, { window: 8, maxFrameSize: 1 << 20 })
  const server = new Handshake('server', secret, { window: 16, maxFrameSize: 1 << 22 })
  const toServer: Uint8Array[] = []
  const toClient: Uint8Array[] = []
  expect(await server.receive(decodeHandshake(encode(client.hello())), (auth) => toClient.push(encode(auth)))).toBeUndefined()
  expect(await client.receive(decodeHandshake(encode(server.hello())), (auth) => toServer.push(encode(auth)))).toBeUndefined()
  expect(await server.receive(decodeHandshake(toServer[0]), () => {})).toEqual({
    options: { window: 8, maxFrameSize: 1 << 20, role: 'client' },
    features: new Set(),
  })
  expect(await client.receive(decodeHandshake(toClient[0]), () => {})).toEqual({
    options: { window: 16, maxFrameSize: 1 << 22, role: 'server' },
    features: new Set(),
  })
})
