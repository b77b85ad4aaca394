import { describe, expect, test } from 'vitest'
import { Codec } from '../../src/protocol/codec.js'
import { ProtocolError, SerializationError } from '../../src/protocol/errors.js'
import { MessageType, type Message } from '../../src/protocol/messages.js'

/** Encodes `value` as the value of a result message and decodes it back. */
function roundTrip(value: unknown, codec = new Codec()): unknown {
  const decoded = codec.decode(codec.encode([MessageType.Result, 1, value]))
  expect(Array.isArray(decoded)).toBe(true)
  const [type, id, carried] = decoded as unknown[]
  expect([type, id]).toEqual([MessageType.Result, 1])
  return carried
}

function encodeFailure(value: unknown): unknown {
  try {
    new Codec().encode([MessageType.Result, 1, value])
  } catch (error) {
    return error
  }
  throw new Error('encode did not throw')
}

function decodeFailure(bytes: number[] | Uint8Array): unknown {
  try {
    new Codec().decode(Uint8Array.from(bytes))
  } catch (error) {
    return error
  }
  throw new Error(`decode of ${bytes.length} bytes starting ${JSON.stringify([...bytes.slice(0, 8)])} did not throw`)
}

const utf8 = new TextEncoder()

/** A CBOR text string. */
function text(value: string): number[] {
  const bytes = utf8.encode(value)
  if (bytes.length >= 24) throw new Error('short strings only')
  return [0x60 + bytes.length, ...bytes]
}

describe('Codec round trips', () => {
  test('primitives', () => {
    for (const value of [0, 1, -1, 2 ** 40, -(2 ** 40), 0.5, Number.MAX_SAFE_INTEGER, '', 'text', 'ünïcødé ✓', true, false, null]) {
      expect(roundTrip(value)).toBe(value)
    }
    expect(roundTrip(NaN)).toBeNaN()
    expect(roundTrip(Infinity)).toBe(Infinity)
  })

  test('undefined stays undefined, at top level and nested', () => {
    expect(roundTrip(undefined)).toBeUndefined()
    const nested = roundTrip({ a: undefined, list: [undefined, 1] }) as { a: unknown; list: unknown[] }
    expect(Object.hasOwn(nested, 'a')).toBe(true)
    expect(nested.a).toBeUndefined()
    expect(nested.list).toEqual([undefined, 1])
    expect(nested.list).toHaveLength(2)
  })

  test('Uint8Array comes back as a Uint8Array with the same bytes', () => {
    const bytes = new Uint8Array([0, 1, 2, 254, 255])
    const back = roundTrip(bytes)
    expect(back).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(back)).toBe(false)
    expect([...(back as Uint8Array)]).toEqual([0, 1, 2, 254, 255])
  })

  test('a Uint8Array that is a view of a larger buffer carries only its own bytes', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9, 9])
    const back = roundTrip(backing.subarray(2, 5)) as Uint8Array
    expect([...back]).toEqual([1, 2, 3])
  })

  test('Buffer comes back as a Buffer when the frame is one, as over a socket', () => {
    const codec = new Codec()
    const [, , back] = codec.decode(Buffer.from(codec.encode([MessageType.Result, 1, Buffer.from('hello')]))) as unknown[]
    expect(Buffer.isBuffer(back)).toBe(true)
    expect((back as Buffer).toString()).toBe('hello')
  })

  test('empty and large binary values', () => {
    expect([...(roundTrip(new Uint8Array(0)) as Uint8Array)]).toEqual([])
    const large = new Uint8Array(1 << 20).map((_, i) => i & 0xff)
    const back = roundTrip(large) as Uint8Array
    expect(back.byteLength).toBe(large.byteLength)
    expect(Buffer.compare(back, large)).toBe(0)
  })

  test('Date keeps its time, to the millisecond', () => {
    const date = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789))
    const back = roundTrip(date)
    expect(back).toBeInstanceOf(Date)
    expect((back as Date).getTime()).toBe(date.getTime())
    expect((roundTrip(new Date(0)) as Date).getTime()).toBe(0)
    expect((roundTrip(new Date(-86_400_000)) as Date).getTime()).toBe(-86_400_000)
  })

  test('Map keeps non-string keys and insertion order', () => {
    const objectKey = { id: 1 }
    const map = new Map<unknown, unknown>([
      [1, 'number'],
      ['1', 'string'],
      [true, 'boolean'],
      [objectKey, 'object'],
      [[1, 2], 'array'],
      [10n, 'bigint'],
      [null, 'null'],
    ])
    const back = roundTrip(map)
    expect(back).toBeInstanceOf(Map)
    expect(back).toEqual(map)
    expect([...(back as Map<unknown, unknown>).values()]).toEqual(['number', 'string', 'boolean', 'object', 'array', 'bigint', 'null'])
    expect((back as Map<unknown, unknown>).get(1)).toBe('number')
    expect((back as Map<unknown, unknown>).get('1')).toBe('string')
  })

  test('an empty Map stays a Map', () => {
    const back = roundTrip(new Map())
    expect(back).toBeInstanceOf(Map)
    expect((back as Map<unknown, unknown>).size).toBe(0)
  })

  test('Set keeps its members and order', () => {
    const set = new Set<unknown>([3, 'a', 1, null, 2n])
    const back = roundTrip(set)
    expect(back).toBeInstanceOf(Set)
    expect([...(back as Set<unknown>)]).toEqual([3, 'a', 1, null, 2n])
    expect(roundTrip(new Set())).toEqual(new Set())
  })

  test('BigInt, small and huge, positive and negative', () => {
    for (const value of [0n, 1n, -1n, 42n, 2n ** 63n - 1n, 2n ** 64n, -(2n ** 64n) - 1n, 2n ** 1000n + 12345n, -(3n ** 500n)]) {
      const back = roundTrip(value)
      expect(typeof back, String(value)).toBe('bigint')
      expect(back).toBe(value)
    }
  })

  test('nested structures of every kind', () => {
    const value = {
      list: [1, 'two', [3, [4, { five: 5 }]], null, undefined],
      when: new Date(1_700_000_000_000),
      bytes: new Uint8Array([1, 2, 3]),
      index: new Map<unknown, unknown>([
        [1, new Set(['a', 'b'])],
        ['k', { deep: new Map([[2n, [new Date(0)]]]) }],
      ]),
      big: 2n ** 100n,
      empty: {},
      emptyList: [],
    }
    expect(roundTrip(value)).toEqual(value)
  })

  test('objects and Maps of more than 65,535 entries', () => {
    const object = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]))
    const back = roundTrip(object) as Record<string, number>
    expect(Object.keys(back)).toHaveLength(70_000)
    expect(back.k69999).toBe(69_999)
    const map = new Map(Array.from({ length: 70_000 }, (_, i) => [i, `v${i}`]))
    expect((roundTrip(map) as Map<number, string>).get(69_999)).toBe('v69999')
  })

  test('decoded plain objects have Object.prototype', () => {
    const back = roundTrip({ a: { b: 1 } }) as { a: object }
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.getPrototypeOf(back.a)).toBe(Object.prototype)
  })
})

describe('Codec failures', () => {
  test('a cyclic value is a SerializationError with a clear message', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' }
    cyclic.self = cyclic
    const error = encodeFailure(cyclic)
    expect(error).toBeInstanceOf(SerializationError)
    expect((error as SerializationError).code).toBe('ERR_SERIALIZATION')
    expect((error as Error).message).toMatchInlineSnapshot(`"value cannot be serialized: it is cyclic or nested too deeply"`)
    expect((error as Error).cause).toBeDefined()
  })

  test('a function is a SerializationError that names the type', () => {
    const error = encodeFailure({ callback: () => 1 })
    expect(error).toBeInstanceOf(SerializationError)
    expect((error as Error).message).toMatchInlineSnapshot(`"value cannot be serialized: Unknown type: function"`)
  })

  test('a symbol is a SerializationError that names the type', () => {
    const error = encodeFailure([Symbol('s')])
    expect(error).toBeInstanceOf(SerializationError)
    expect((error as Error).message).toMatchInlineSnapshot(`"value cannot be serialized: Unknown type: symbol"`)
  })

  test('the codec keeps working after a failed encode', () => {
    const codec = new Codec()
    expect(() => codec.encode([MessageType.Result, 1, () => 1])).toThrow(SerializationError)
    expect(roundTrip({ ok: [1, 2] }, codec)).toEqual({ ok: [1, 2] })
  })

  test('canEncode tells what can travel', () => {
    const codec = new Codec()
    expect(codec.canEncode({ a: [1n, new Date(0)] })).toBe(true)
    expect(codec.canEncode(() => 1)).toBe(false)
    expect(codec.canEncode(Symbol('x'))).toBe(false)
  })

  test.each([
    ['a reserved initial byte', [0x1c]],
    ['an empty payload', []],
    ['a truncated array', [0x82, 0x01]],
    ['a truncated text string', [0x65, 0x61, 0x62]],
    ['a truncated 8-byte length', [0x5b, 0x00, 0x00]],
    ['trailing bytes after the value', [0x01, 0x02]],
    ['an indefinite-length text string', [0x7f, 0x61, 0x61, 0xff]],
    ['a map key that is an array (as an object key)', [0xa1, 0x81, 0x01, 0x01]],
  ])('malformed bytes: %s is a ProtocolError', (_label, bytes) => {
    const error = decodeFailure(bytes)
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as ProtocolError).code).toBe('ERR_PROTOCOL')
    expect((error as Error).message).toMatch(/^malformed CBOR payload: /)
  })

  test('nesting deep enough to exhaust the stack is a ProtocolError, not a crash', () => {
    const deep = new Uint8Array(200_001).fill(0x81) // 200 000 nested one-element arrays
    deep[200_000] = 0x00
    expect(decodeFailure(deep)).toBeInstanceOf(ProtocolError)
  })

  test('shared references (tags 28/29, a cbor-x extension) are refused: a peer cannot send a cyclic value', () => {
    // tag28([tag29(0)]): an array that contains itself.
    const error = decodeFailure([0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00])
    expect(error).toBeInstanceOf(ProtocolError)
  })

  test('a lone "break" byte (0xff) is not well-formed CBOR and is a ProtocolError', () => {
    // RFC 8949 3.2.1: "break" only ends an indefinite-length item; alone it is not well-formed.
    expect(decodeFailure([0xff])).toBeInstanceOf(ProtocolError)
  })
})

describe('Codec safety', () => {
  test('a "__proto__" key in a decoded map never changes a prototype', () => {
    // {"__proto__": {"polluted": true}, "x": 1}, built byte by byte as a hostile peer would.
    const bytes = new Uint8Array([0xa2, ...text('__proto__'), 0xa1, ...text('polluted'), 0xf5, ...text('x'), 0x01])
    const decoded = new Codec().decode(bytes) as Record<string, unknown>
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect((decoded as { polluted?: unknown }).polluted).toBeUndefined()
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
    expect(decoded.x).toBe(1)
  })

  test('a "__proto__" key nested in a message never changes a prototype', () => {
    const hostile = JSON.parse('{"a": {"__proto__": {"polluted": true}}}') as object
    const back = roundTrip(hostile) as { a: object }
    expect(Object.getPrototypeOf(back.a)).toBe(Object.prototype)
    expect((back.a as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
  })

  test('a "__proto__" key of a Map stays a Map entry', () => {
    const back = roundTrip(new Map([['__proto__', { polluted: true }]])) as Map<string, unknown>
    expect(back).toBeInstanceOf(Map)
    expect(back.get('__proto__')).toEqual({ polluted: true })
    expect(Object.prototype).not.toHaveProperty('polluted')
  })

  test("the encoder's output is not overwritten by later encodes", () => {
    const codec = new Codec()
    const first = codec.encode([MessageType.Result, 1, 'first'])
    const expected = first.slice()
    const second = codec.encode([MessageType.Result, 2, 'second'])
    const secondCopy = second.slice()
    // Enough traffic to fill and replace the encoder's internal buffer several times over.
    for (let i = 0; i < 3000; i++) codec.encode([MessageType.Result, i, 'x'.repeat(i % 500)])
    codec.encode([MessageType.Result, 3, new Uint8Array(1 << 20)])
    expect(() => codec.encode([MessageType.Result, 4, { f: () => 1 }])).toThrow(SerializationError)
    // Another channel's codec encoding in between must not clobber it either.
    new Codec().encode([MessageType.Result, 5, 'other'.repeat(1000)])
    expect([...first]).toEqual([...expected])
    expect([...second]).toEqual([...secondCopy])
    expect(new Codec().decode(first)).toEqual([MessageType.Result, 1, 'first'])
  })

  test('every message type survives a round trip', () => {
    const codec = new Codec()
    const nonce = new Uint8Array(32).fill(7)
    const messages: Message[] = [
      [MessageType.Hello, 'ipc-channel', 1, nonce, { window: 64 }],
      [MessageType.Hello, 'ipc-channel', 1, null, {}],
      [MessageType.Auth, new Uint8Array(32).fill(1)],
      [MessageType.Call, 1, 'add', [1, 2]],
      [MessageType.Notify, 'log', ['text']],
      [MessageType.Result, 1, 3],
      [MessageType.Error, 1, { type: 'error', name: 'TypeError', message: 'bad' }],
      [MessageType.Cancel, 1, { type: 'value', value: undefined }],
      [MessageType.Progress, 1, 0.5],
      [MessageType.Item, 1, 'item'],
      [MessageType.End, 1],
      [MessageType.Credit, 1, 32],
      [MessageType.Ping, 7],
      [MessageType.Pong, 7],
      [MessageType.Goodbye, null],
    ]
    for (const message of messages) expect(codec.decode(codec.encode(message))).toEqual(message)
  })
})
