import { describe, expect, test } from 'vitest'
import { SerializationError } from '../../src/core/errors.js'
import { Codec, LARGE_BINARY } from '../../src/protocol/codec.js'
import { MessageEncoder } from '../../src/protocol/encoder.js'
import { joinPayload, payloadLength, type Payload } from '../../src/protocol/framing.js'
import { MAGIC, MessageType, MIN_FRAME_SIZE, PROTOCOL_VERSION, parseMessage, type ErrorObjectEnvelope } from '../../src/protocol/messages.js'

const codec = new Codec()

/** Decodes a payload as the peer would, and checks its shape as the peer would. */
function decoded(payload: Payload): unknown[] {
  return parseMessage(codec.decode(joinPayload(payload))) as unknown[]
}

/** The envelope of an encoded Error or Cancel message. */
function envelopeOf(payload: Payload): ErrorObjectEnvelope {
  return decoded(payload)[2] as ErrorObjectEnvelope
}

function encoder(peerMaxFrameSize = 64 * 1024 * 1024): MessageEncoder {
  return new MessageEncoder(new Codec(), peerMaxFrameSize)
}

describe('every message round-trips through Codec.decode', () => {
  const encode = encoder()

  test('handshake messages, unchecked', () => {
    const nonce = new Uint8Array(32).fill(7)
    const hello = [MessageType.Hello, MAGIC, PROTOCOL_VERSION, nonce, { window: 8, maxFrameSize: 1000, role: 'client' }] as const
    expect(decoded(encode.encode([...hello]))).toEqual([...hello])
    const auth = [MessageType.Auth, new Uint8Array(32).fill(1)] as const
    expect(decoded(encode.encode([...auth]))).toEqual([...auth])
  })

  test('call and notify, with their arguments', () => {
    const args = [1, 'two', { three: [3] }, null, new Uint8Array([4, 5]), new Map([[1, 'one']]), 2n ** 70n]
    expect(decoded(encode.call(12, 'method', args))).toEqual([MessageType.Call, 12, 'method', args])
    expect(decoded(encode.notify('event', args))).toEqual([MessageType.Notify, 'event', args])
    expect(decoded(encode.call(1, 'none', []))).toEqual([MessageType.Call, 1, 'none', []])
  })

  test('a large binary argument travels as its own chunk and decodes in place', () => {
    const large = new Uint8Array(LARGE_BINARY + 10).map((_, i) => i & 0xff)
    const payload = encode.call(3, 'upload', ['name', large, { nested: large }])
    expect(Array.isArray(payload)).toBe(true)
    expect(payloadLength(payload)).toBeGreaterThan(2 * large.byteLength)
    const [type, id, name, args] = decoded(payload) as [number, number, string, [string, Uint8Array, { nested: Uint8Array }]]
    expect([type, id, name, args[0]]).toEqual([MessageType.Call, 3, 'upload', 'name'])
    // Compared as bytes: an element-wise deep equality of 64 KiB arrays takes about a second.
    expect(Buffer.compare(args[1], large)).toBe(0)
    expect(Buffer.compare(args[2].nested, large)).toBe(0)
  })

  test('result, progress, item', () => {
    const value = { list: [1, 2, 3], text: 'é', when: new Date(0) }
    expect(decoded(encode.result(5, value))).toEqual([MessageType.Result, 5, value])
    expect(decoded(encode.result(5, undefined))).toEqual([MessageType.Result, 5, undefined])
    expect(decoded(encode.progress(6, 0.5))).toEqual([MessageType.Progress, 6, 0.5])
    expect(decoded(encode.item(7, 'item'))).toEqual([MessageType.Item, 7, 'item'])
  })

  test('end, credit, ping, pong, goodbye', () => {
    expect(decoded(encode.end(8))).toEqual([MessageType.End, 8])
    expect(decoded(encode.credit(9, 32))).toEqual([MessageType.Credit, 9, 32])
    expect(decoded(encode.ping(10))).toEqual([MessageType.Ping, 10])
    expect(decoded(encode.pong(11))).toEqual([MessageType.Pong, 11])
    expect(decoded(encode.goodbye())).toEqual([MessageType.Goodbye, null])
  })

  test('error carries the envelope with its stack, properties and cause', () => {
    const thrown = Object.assign(new TypeError('bad', { cause: new Error('root') }), { code: 'E_BAD' })
    const [type, id, envelope] = decoded(encode.error(13, thrown)) as [number, number, ErrorObjectEnvelope]
    expect([type, id]).toEqual([MessageType.Error, 13])
    expect(envelope).toMatchObject({ type: 'error', name: 'TypeError', message: 'bad', stack: thrown.stack, props: { code: 'E_BAD' } })
    expect(envelope.cause).toMatchObject({ type: 'error', name: 'Error', message: 'root', stack: (thrown.cause as Error).stack })
  })

  test('a thrown value that is not an error travels as a value', () => {
    expect(decoded(encode.error(14, 'plain'))).toEqual([MessageType.Error, 14, { type: 'value', value: 'plain' }])
  })

  test('cancel carries its reason without any stack', () => {
    const reason = new Error('gave up', { cause: new RangeError('deadline') })
    const envelope = envelopeOf(encode.cancel(15, reason))
    expect(decoded(encode.cancel(15, reason)).slice(0, 2)).toEqual([MessageType.Cancel, 15])
    expect(envelope).toEqual({
      type: 'error',
      name: 'Error',
      message: 'gave up',
      cause: { type: 'error', name: 'RangeError', message: 'deadline' },
    })
    expect(decoded(encode.cancel(16, 'why not'))).toEqual([MessageType.Cancel, 16, { type: 'value', value: 'why not' }])
  })
})

describe("the peer's maxFrameSize", () => {
  test('a call of 208 bytes to a peer that takes 100 fails with SerializationError', () => {
    const encode = encoder(100)
    expect(() => encode.call(1, 'f', ['x'.repeat(200)])).toThrow(new SerializationError("message of 208 bytes exceeds the peer's maxFrameSize (100)"))
    expect(() => encode.call(1, 'f', ['x'.repeat(200)])).toThrow(SerializationError)
  })

  const sized: [string, (encode: MessageEncoder, value: unknown) => Payload][] = [
    ['call', (encode, value) => encode.call(1, 'f', [value])],
    ['notify', (encode, value) => encode.notify('f', [value])],
    ['progress', (encode, value) => encode.progress(1, value)],
    ['item', (encode, value) => encode.item(1, value)],
  ]
  test.each(sized)('%s: a message of exactly the limit passes, one byte more fails with the exact text', (_, make) => {
    const value = 'v'.repeat(500)
    const length = payloadLength(make(encoder(), value))
    expect(payloadLength(make(encoder(length), value))).toBe(length)
    const encode = encoder(length - 1)
    let thrown: unknown
    try {
      make(encode, value)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(SerializationError)
    expect((thrown as Error).message).toBe(`message of ${length} bytes exceeds the peer's maxFrameSize (${length - 1})`)
  })

  test.each(sized)('%s: a large binary counts with its chunks', (_, make) => {
    const large = new Uint8Array(LARGE_BINARY * 2)
    expect(() => make(encoder(LARGE_BINARY * 2), large)).toThrow(SerializationError)
  })

  test('the limit is read for every message: a later hello may change it', () => {
    const encode = encoder()
    const payload = encode.call(1, 'f', ['x'.repeat(200)])
    encode.peerMaxFrameSize = 100
    expect(() => encode.call(1, 'f', ['x'.repeat(200)])).toThrow(SerializationError)
    encode.peerMaxFrameSize = payloadLength(payload)
    expect(payloadLength(encode.call(1, 'f', ['x'.repeat(200)]))).toBe(payloadLength(payload))
  })

  test('a result too large for the peer becomes an error frame that fits', () => {
    const limit = 1000
    const encode = encoder(limit)
    const value = 'r'.repeat(2000)
    const length = payloadLength(encoder().result(21, value))
    const payload = encode.result(21, value)
    expect(payloadLength(payload)).toBeLessThanOrEqual(limit)
    expect(decoded(payload).slice(0, 2)).toEqual([MessageType.Error, 21])
    expect(envelopeOf(payload)).toMatchObject({
      type: 'error',
      name: 'SerializationError',
      message: `message of ${length} bytes exceeds the peer's maxFrameSize (${limit})`,
      props: { code: 'ERR_SERIALIZATION' },
    })
  })

  test('end, credit, ping and goodbye are not checked (they are tiny)', () => {
    const encode = encoder(1)
    expect(() => [encode.end(1), encode.credit(1, 2), encode.ping(3), encode.pong(3), encode.goodbye()]).not.toThrow()
  })
})

describe('values that cannot be encoded', () => {
  test('a call or notify with a cyclic argument fails with SerializationError', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const encode = encoder()
    expect(() => encode.call(1, 'f', [cyclic])).toThrow(new SerializationError('value cannot be serialized: it is cyclic or nested too deeply'))
    expect(() => encode.notify('f', [cyclic])).toThrow(SerializationError)
  })

  test('a function argument fails with SerializationError', () => {
    expect(() => encoder().call(1, 'f', [() => 1])).toThrow(/^value cannot be serialized: /)
    expect(() => encoder().progress(1, Symbol('s'))).toThrow(SerializationError)
  })

  test('a result that cannot be encoded becomes an error frame with SerializationError', () => {
    const payload = encoder().result(22, { fn: () => 1 })
    expect(decoded(payload).slice(0, 2)).toEqual([MessageType.Error, 22])
    const envelope = envelopeOf(payload)
    expect(envelope.name).toBe('SerializationError')
    expect(envelope.message).toMatch(/^value cannot be serialized: /)
  })
})

describe('error envelopes degrade until they fit', () => {
  const limit = 2000

  test('a property that cannot be encoded is left out; the rest stays', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const thrown = Object.assign(new Error('with a cycle'), { cycle: cyclic, code: 'E_CYCLE' })
    const envelope = envelopeOf(encoder(limit).error(1, thrown))
    // Only what cannot travel goes: the stack stays.
    expect(envelope).toEqual({ type: 'error', name: 'Error', message: 'with a cycle', stack: thrown.stack, props: { code: 'E_CYCLE' } })
  })

  test('a thrown value that cannot be encoded becomes a SerializationError envelope', () => {
    const envelope = envelopeOf(encoder(limit).error(1, () => 'thrown function'))
    expect(envelope).toMatchObject({ type: 'error', name: 'SerializationError' })
    expect(envelope.message).toBe('thrown value cannot be serialized: function (anonymous)')
  })

  test('an error with a huge stack loses its stacks and keeps its name, message and properties', () => {
    const thrown = Object.assign(new RangeError('deep'), { code: 'E_DEEP' })
    thrown.stack = 'RangeError: deep\n' + '    at somewhere\n'.repeat(1000)
    const payload = encoder(limit).error(2, thrown)
    expect(payloadLength(payload)).toBeLessThanOrEqual(limit)
    expect(envelopeOf(payload)).toEqual({ type: 'error', name: 'RangeError', message: 'deep', props: { code: 'E_DEEP' } })
  })

  test('an error too large even without stacks becomes a minimal SerializationError that fits', () => {
    const thrown = new Error('m'.repeat(5000))
    const full = payloadLength(encoder().error(3, thrown))
    const withoutStack = payloadLength(encoder().cancel(3, thrown))
    const payload = encoder(limit).error(3, thrown)
    expect(payloadLength(payload)).toBeLessThanOrEqual(limit)
    expect(full).toBeGreaterThan(withoutStack)
    expect(envelopeOf(payload)).toEqual({
      type: 'error',
      name: 'SerializationError',
      message: `the error could not be sent: message of ${withoutStack} bytes exceeds the peer's maxFrameSize (${limit})`,
      props: { code: 'ERR_SERIALIZATION' },
    })
  })

  /** An error whose enumerable property `trap` throws an error with `message` when it is read. */
  function withThrowingGetter(message: string): Error {
    const thrown = new Error('with a getter')
    Object.defineProperty(thrown, 'trap', {
      enumerable: true,
      get() {
        throw new Error(message)
      },
    })
    return thrown
  }

  test('an error whose property getter throws becomes a minimal SerializationError, its message cut at 200 characters', () => {
    const payload = encoder(limit).error(4, withThrowingGetter('g'.repeat(3000)))
    expect(payloadLength(payload)).toBeLessThanOrEqual(limit)
    const envelope = envelopeOf(payload)
    expect(envelope).toEqual({
      type: 'error',
      name: 'SerializationError',
      message: `the error could not be sent: ${'g'.repeat(3000)}`.slice(0, 200),
      props: { code: 'ERR_SERIALIZATION' },
    })
    expect(envelope.message).toHaveLength(200)
  })

  // 200 UTF-16 units are at most 600 bytes of UTF-8 ('€' is one unit and three bytes); a cut through a
  // surrogate pair travels as U+FFFD.
  test.each(['g', '€', '😀'])('the last resort fits the smallest frame limit a peer may announce, with a message of %s', (character) => {
    const encode = encoder(MIN_FRAME_SIZE)
    const thrown = withThrowingGetter(character.repeat(3000))
    for (const payload of [encode.error(7, thrown), encode.cancel(7, thrown)]) {
      expect(payloadLength(payload)).toBeLessThanOrEqual(MIN_FRAME_SIZE)
      const envelope = envelopeOf(payload)
      expect(envelope.name).toBe('SerializationError')
      expect(envelope.message.startsWith(`the error could not be sent: ${character}`)).toBe(true)
    }
  })

  test('a cancel reason degrades the same way', () => {
    const thrown = new Error('c'.repeat(5000))
    const payload = encoder(limit).cancel(5, thrown)
    expect(payloadLength(payload)).toBeLessThanOrEqual(limit)
    expect(decoded(payload).slice(0, 2)).toEqual([MessageType.Cancel, 5])
    expect(envelopeOf(payload).name).toBe('SerializationError')
  })

  // PROTOCOL.md 7.4 treats a payload outside the profile as one that cannot be encoded: a property
  // outside it (here a bignum of more than 1,024 bytes) is left out like any other that cannot travel.
  test('a property outside the profile is left out; the name and message stay', () => {
    const thrown = Object.assign(new TypeError('with a huge bignum'), { huge: 2n ** 10_000n, code: 'E_HUGE' })
    const envelope = envelopeOf(encoder(limit).error(6, thrown))
    expect(envelope).toMatchObject({ type: 'error', name: 'TypeError', message: 'with a huge bignum', props: { code: 'E_HUGE' } })
  })
})
