/**
 * Values that would arrive as something else (`{}`, or a part of themselves) fail on the sending side
 * with a SerializationError that says where they were and what to send instead: arguments, results,
 * stream items and progress values. A class instance of public data fields still travels as them.
 */
import { describe, expect, test } from 'vitest'
import { SerializationError, type CallContext } from '../../src/index.js'
import { Codec } from '../../src/protocol/codec.js'
import { MessageType } from '../../src/protocol/messages.js'
import { rejection } from '../helpers/outcome.js'
import { connectedPair } from '../helpers/pairs.js'

class Secret {
  readonly #key = 'k'
  reveal(): string {
    return this.#key
  }
}

class Temperature {
  #celsius = 21
  get celsius(): number {
    return this.#celsius
  }
}

class Point {
  x = 1
  y = 2
  length(): number {
    return Math.hypot(this.x, this.y)
  }
}

function* numbers() {
  yield 1
}

/** The message of the error `call` rejects with, which must be a SerializationError. */
async function refusal(call: PromiseLike<unknown>): Promise<string> {
  const error = await rejection<Error>(call)
  expect(error).toBeInstanceOf(SerializationError)
  return error.message
}

describe('arguments', () => {
  test('each refusal names the argument, and nothing reaches the peer', async () => {
    const { server, client } = await connectedPair()
    const received: unknown[] = []
    server.expose('take', (...args: unknown[]) => received.push(args))
    const url = new URL('https://example.com/a')
    expect(await refusal(client.rpc('take', 'x', { when: url }))).toBe('args[1].when: URL is not sendable; send url.href')
    expect(await refusal(client.rpc('take', Promise.resolve(1)))).toBe('args[0]: a Promise is not sendable; await it first')
    expect(await refusal(client.rpc('take', [new Secret()]))).toBe(
      'args[0][0]: Secret is not sendable: it would arrive as {} (private fields and getters do not travel); send a plain object',
    )
    expect(await refusal(client.rpc('take', { reading: new Temperature() }))).toBe(
      'args[0].reading: Temperature is not sendable: its getters (celsius) would not travel; send a plain object',
    )
    expect(await refusal(client.rpc('take', new Map([['k', new DataView(new ArrayBuffer(2))]])))).toBe(
      'args[0].get("k"): DataView is not sendable; send new Uint8Array(view.buffer, view.byteOffset, view.byteLength)',
    )
    expect(await refusal(client.rpc('take', client.rpc('take', 1)))).toBe('args[0]: an InProgress is not sendable; await it first')
    expect(received).toEqual([[1]])
  })

  test('a generator object is refused with what to send instead, not as an indefinite length', async () => {
    const { server, client } = await connectedPair()
    server.expose('take', (value: unknown) => value)
    expect(await refusal(client.rpc('take', 1, { items: numbers() }))).toBe('args[1].items: a generator object is not sendable; send Array.from(it)')
    expect(await client.rpc('take', Array.from(numbers()))).toEqual([1])
  })

  test('notify throws the same error, synchronously', async () => {
    const { client } = await connectedPair()
    expect(() => client.notify('log', new URL('https://example.com/'))).toThrow(new SerializationError('args[0]: URL is not sendable; send url.href'))
  })

  test('a class instance of public data fields still travels as a plain object of them (documented)', async () => {
    const { server, client } = await connectedPair()
    server.expose('take', (value: unknown) => value)
    const point = await client.rpc<Record<string, unknown>>('take', new Point())
    expect(point).toEqual({ x: 1, y: 2 })
    expect(Object.getPrototypeOf(point)).toBe(Object.prototype)
  })
})

describe('what a handler sends back', () => {
  test('a result that cannot be sent: the caller is told it was the result of that call', async () => {
    const { server, client } = await connectedPair()
    server.expose('config', () => ({ endpoint: new URL('https://example.com/') }))
    server.expose('pending', () => ({ done: Promise.resolve(true) }))
    expect(await refusal(client.rpc('config'))).toBe('the result of "config".endpoint: URL is not sendable; send url.href')
    expect(await refusal(client.rpc('pending'))).toBe('the result of "pending".done: a Promise is not sendable; await it first')
    expect(client.connected).toBe(true)
  })

  test('a stream item that cannot be sent ends the stream with that error', async () => {
    const { server, client } = await connectedPair()
    server.expose('feed', async function* () {
      yield 1
      yield new Temperature()
    })
    expect(await refusal(client.rpc('feed'))).toBe(
      'a stream item of "feed": Temperature is not sendable: its getters (celsius) would not travel; send a plain object',
    )
  })

  test('a progress value that cannot be sent throws in the handler, which can go on', async () => {
    const { server, client } = await connectedPair()
    let thrown: unknown
    server.expose(
      'copy',
      (context: CallContext) => {
        try {
          context.progress({ at: new URL('https://example.com/') })
        } catch (error) {
          thrown = error
        }
        return 'copied'
      },
      { context: true },
    )
    expect(await client.rpc('copy')).toBe('copied')
    expect(thrown).toEqual(new SerializationError('a progress value of "copy".at: URL is not sendable; send url.href'))
  })
})

describe('the codec', () => {
  test('plain data takes the fast path and is never walked', () => {
    // A getter on a plain object runs once: the fast path writes it, nothing walks it before.
    let reads = 0
    const value = {
      get n() {
        reads++
        return 1
      },
    }
    new Codec().encodeData([MessageType.Result, 1, value], 2)
    expect(reads).toBe(1)
  })

  test('without a channel the same values are refused, and a function as cbor-x refuses it', () => {
    const codec = new Codec()
    expect(() => codec.encodeData([MessageType.Result, 1, new URL('https://example.com/')], 2, 'get')).toThrow(
      new SerializationError('the result of "get": URL is not sendable; send url.href'),
    )
    expect(() => codec.encodeData([MessageType.Result, 1, [() => 1]], 2)).toThrow(
      new SerializationError('value cannot be serialized: Unknown type: function'),
    )
  })
})
