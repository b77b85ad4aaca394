import { describe, expect, test } from 'vitest'
import { SerializationError } from '../../src/index.js'
import { Codec } from '../../src/protocol/codec.js'
import { MessageType } from '../../src/protocol/messages.js'
import { checkProfile, MAX_NESTING } from '../../src/protocol/profile.js'
import { connectedPair } from '../helpers/pairs.js'

describe('what the peer would refuse fails on the sending side, for that message only', () => {
  test('a small message with an iterable (written with an indefinite length) is a SerializationError', () => {
    function* items() {
      yield 1
    }
    expect(() => new Codec().encode([MessageType.Result, 1, items()])).toThrow(SerializationError)
  })

  test('an Error value named like a prototype member is a SerializationError', () => {
    const error = new Error('x')
    error.name = 'constructor'
    expect(() => new Codec().encode([MessageType.Result, 1, error])).toThrow(/tag 27 name "constructor"/)
  })

  test('a call with such an argument rejects, and the channel goes on', async () => {
    const { server, client } = await connectedPair()
    server.expose('echo', (value: unknown) => value)
    function* items() {
      yield 1
    }
    await expect(client.rpc('echo', items())).rejects.toBeInstanceOf(SerializationError)
    expect(await client.rpc('echo', 42)).toBe(42)
    expect(client.connected).toBe(true)
  })

  test('an error too large for the caller’s maxFrameSize arrives as a SerializationError, and the channel goes on', async () => {
    const { server, client } = await connectedPair({}, { maxFrameSize: 4000 })
    server.expose('boom', () => {
      throw new Error('x'.repeat(5000))
    })
    server.expose('ok', () => 'ok')
    const error = await client.rpc('boom').then(
      () => undefined,
      (reason: unknown) => reason,
    )
    expect(error).toBeInstanceOf(SerializationError)
    expect((error as Error).message).toMatch(/could not be sent: message of \d+ bytes exceeds the peer's maxFrameSize \(4000\)/)
    expect(await client.rpc('ok')).toBe('ok')
  })
})

test('a chain of tags counts toward the nesting limit', () => {
  // Tag 258 (set) nested deeper than the limit: refused by the scan, not by the decoder's stack.
  const chain = new Uint8Array(3 * (MAX_NESTING + 1) + 1)
  for (let i = 0; i <= MAX_NESTING; i++) chain.set([0xd9, 0x01, 0x02], 3 * i)
  chain[chain.length - 1] = 0x80
  expect(() => checkProfile(chain)).toThrow(/nested too deeply/)
})

describe('a call made by name with the wrong shape fails on the caller, and the channel goes on', () => {
  test('call() with arguments that are not an array, a name that is not a string, a bad timeout', async () => {
    const { server, client } = await connectedPair()
    server.expose('echo', (value: unknown) => value)
    const untyped = client as unknown as {
      call(name: unknown, args: unknown, options?: unknown): Promise<unknown>
      rpc(name: unknown, ...args: unknown[]): Promise<unknown>
      notify(name: unknown, ...args: unknown[]): void
    }
    await expect(untyped.call('echo', { a: 1 })).rejects.toThrow(/call\(\) takes the arguments as an array, not an object: call\("echo", \[a, b\]/)
    await expect(untyped.rpc(42, 1)).rejects.toThrow(new TypeError('a method name must be a string, not the number 42'))
    await expect(untyped.call('echo', [1], { timeout: 'soon' })).rejects.toBeInstanceOf(RangeError)
    await expect(untyped.call('echo', [1], { timeout: -1 })).rejects.toBeInstanceOf(RangeError)
    expect(() => untyped.notify(undefined)).toThrow(TypeError)
    expect(() => client.rpc('echo', 1).timeout(Number.NaN)).toThrow(RangeError)
    expect(await client.call('echo', [42], { timeout: 0 + 5000 })).toBe(42)
    expect(client.connected && server.connected).toBe(true)
  })
})

test('call() sends the elements of any array it is given: a subclass, or one that claims another constructor', async () => {
  // Before, the first failed to encode (written with an indefinite length), and the second was written
  // as a map, a malformed call that cost the connection.
  const { server, client } = await connectedPair()
  server.expose('args', (...args: unknown[]) => args)
  class Arguments extends Array<unknown> {}
  const claiming = [4, 5]
  Object.defineProperty(claiming, 'constructor', { value: Object })
  expect(await client.call('args', Arguments.from([1, 2, 3]))).toEqual([1, 2, 3])
  expect(await client.call('args', claiming)).toEqual([4, 5])
  // An ArrayBuffer is left to the general encoder, which gets the elements too.
  const general = Arguments.from([new ArrayBuffer(2), 6])
  const [bytes, six] = (await client.call('args', general)) as [Uint8Array, number]
  expect([bytes.length, six]).toEqual([2, 6])
  // An element that throws as it is read rejects the call; nothing throws from call() itself.
  const throwing = [1]
  Object.defineProperty(throwing, 0, {
    get: () => {
      throw new Error('no')
    },
  })
  await expect(client.call('args', throwing)).rejects.toBeInstanceOf(SerializationError)
  expect(client.connected && server.connected).toBe(true)
})
