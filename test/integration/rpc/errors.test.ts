/**
 * Every way a call can fail across processes: remote exceptions rebuilt with their class, stack,
 * properties and causes; thrown non-Error values; unknown and inherited method names; values that
 * cannot be serialized on either side. The server runs in a fixture process (test/fixtures/api.mjs
 * throws), the client in the test process, unless stated otherwise.
 */
import { describe, expect, test } from 'vitest'
import { ChannelClosedError, IpcError, MethodNotFoundError, RemoteError, SerializationError, type Channel } from '../../../dist/index.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { rejection } from '../../helpers/outcome.js'
import { connectClient, listenHere, nextMessage, startServer } from '../support.js'

/** Same name as the fixture's class: registering it with `errors` rebuilds remote throws as this class. */
class QuotaError extends Error {
  limit = 0
  constructor(message: string) {
    super(message)
    this.name = 'QuotaError'
  }
}

describe('remote exceptions', () => {
  test('a remote TypeError is a TypeError and a RemoteError, with the remote stack', async () => {
    expect.assertions(9)
    const { path } = await startServer()
    const client = await connectClient(path)
    const error = (await rejection(client.rpc('throwTypeError'))) as TypeError
    expect(error).toBeInstanceOf(TypeError)
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.name).toBe('TypeError')
    expect(error.message).toMatchInlineSnapshot(`"expected a number, got a string"`)
    // The stack is the one the fixture process formatted, naming the file that threw.
    expect(error.stack).toContain('api.mjs')
    expect(error.stack).toMatch(/^TypeError: expected a number, got a string\n\s+at /)
    expect(error.stack).not.toContain('errors.test.ts')
  })

  test('own properties (code, errno, arbitrary fields) survive', async () => {
    expect.assertions(7)
    const { path } = await startServer()
    const client = await connectClient(path)
    const error = (await rejection(client.rpc('throwWithProps'))) as Error & Record<string, unknown>
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.message).toBe('disk full')
    expect({ code: error.code, errno: error.errno, syscall: error.syscall, retryable: error.retryable }).toEqual({
      code: 'ENOSPC',
      errno: -28,
      syscall: 'write',
      retryable: false,
    })
    expect(error.details).toEqual({ path: '/var/data', attempts: [1, 2, 3], when: new Date(0) })
    expect(Object.keys(error).sort()).toEqual(['code', 'details', 'errno', 'retryable', 'syscall'])
  })

  test('the cause chain is rebuilt recursively', async () => {
    expect.assertions(13)
    const { path } = await startServer()
    const client = await connectClient(path)
    const outer = (await rejection(client.rpc('throwWithCause'))) as Error
    expect(outer).toBeInstanceOf(RemoteError)
    expect(outer.message).toBe('request failed')
    const middle = outer.cause as Error
    expect(middle).toBeInstanceOf(TypeError)
    expect(middle).toBeInstanceOf(RemoteError)
    expect(middle.message).toBe('could not parse record')
    expect(middle.stack).toContain('api.mjs')
    const root = middle.cause as Error & { code?: string }
    expect(root).toBeInstanceOf(RangeError)
    expect(root).toBeInstanceOf(RemoteError)
    expect(root.message).toBe('index 7 out of range')
    expect(root.code).toBe('E_RANGE')
    expect(root.stack).toContain('api.mjs')
    expect('cause' in root).toBe(false)
  })

  test('a cause that is not an Error comes back as that value', async () => {
    expect.assertions(3)
    const { path } = await startServer()
    const client = await connectClient(path)
    const error = (await rejection(client.rpc('throwCauseValue'))) as Error
    expect(error.message).toBe('wrapped value')
    expect(error.cause).toEqual({ reason: 'plain', n: 1 })
  })

  test('a class registered with the errors option comes back as that class', async () => {
    expect.assertions(8)
    const { path } = await startServer()
    const client = await connectClient(path, { errors: [QuotaError] })
    const error = (await rejection(client.rpc('throwQuota'))) as QuotaError
    expect(error).toBeInstanceOf(QuotaError)
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.name).toBe('QuotaError')
    expect(error.message).toBe('quota exceeded')
    expect(error.limit).toBe(42)
    expect(error.stack).toContain('api.mjs')
  })

  test('an unregistered custom class comes back as a RemoteError with the remote name', async () => {
    expect.assertions(8)
    const { path } = await startServer()
    const client = await connectClient(path, { errors: [QuotaError] })
    const error = (await rejection(client.rpc('throwUnregistered'))) as RemoteError & { detail?: string }
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toBeInstanceOf(Error)
    expect(error).not.toBeInstanceOf(QuotaError)
    expect(error.name).toBe('UnregisteredError')
    expect(error.message).toBe('nobody knows this class')
    expect(error.detail).toBe('kept')
    expect(error.stack).toContain('api.mjs')
  })

  test('without registration the same QuotaError is a RemoteError named QuotaError', async () => {
    expect.assertions(5)
    const { path } = await startServer()
    const client = await connectClient(path)
    const error = (await rejection(client.rpc('throwQuota'))) as Error & { limit?: number }
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).not.toBeInstanceOf(QuotaError)
    expect(error.name).toBe('QuotaError')
    expect(error.limit).toBe(42)
  })

  test('an AggregateError comes back with each of its errors rebuilt', async () => {
    expect.assertions(11)
    const { path } = await startServer()
    const client = await connectClient(path, { errors: [QuotaError] })
    const error = (await rejection(client.rpc('throwAggregate'))) as AggregateError
    expect(error).toBeInstanceOf(AggregateError)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.message).toBe('several failures')
    expect(error.errors).toHaveLength(3)
    const [first, second, third] = error.errors as [TypeError, QuotaError, string]
    expect(first).toBeInstanceOf(TypeError)
    expect(first.message).toBe('first')
    expect(second).toBeInstanceOf(QuotaError)
    expect(second.limit).toBe(7)
    expect(second).toBeInstanceOf(RemoteError)
    expect(third).toBe('third as a string')
  })

  test.each([
    ['string', 'a thrown string'],
    ['object', { reason: 'a thrown object', nested: { list: [1, 2] } }],
    ['undefined', undefined],
    ['null', null],
    ['number', 42],
  ])('a thrown %s rejects with that exact value', async (kind, expected) => {
    expect.assertions(3)
    const { path } = await startServer()
    const client = await connectClient(path)
    const reason = await rejection(client.rpc('throwValue', kind))
    expect(reason).toEqual(expected)
    expect(reason instanceof Error).toBe(false)
  })
})

describe('method names', () => {
  test('an unknown method rejects with MethodNotFoundError naming it', async () => {
    expect.assertions(9)
    const { path } = await startServer()
    const client = await connectClient(path)
    const error = (await rejection(client.rpc('noSuchMethod', 1))) as MethodNotFoundError
    expect(error).toBeInstanceOf(MethodNotFoundError)
    expect(error).toBeInstanceOf(IpcError)
    expect(error.code).toBe('ERR_METHOD_NOT_FOUND')
    expect(error.method).toBe('noSuchMethod')
    expect(error.message).toMatchInlineSnapshot(`"method not found: "noSuchMethod""`)
    // The proxy goes through the same path.
    const viaProxy = (await rejection(client.remote<{ alsoMissing(): void }>().alsoMissing())) as MethodNotFoundError
    expect(viaProxy.message).toContain('alsoMissing')
    expect(await client.rpc('add', 1, 1)).toBe(2)
  })

  test.each(['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', '__defineGetter__'])(
    'the inherited name %s is not callable',
    async (name) => {
      expect.assertions(5)
      const { path } = await startServer()
      const client = await connectClient(path)
      const error = (await rejection(client.rpc(name))) as MethodNotFoundError
      expect(error).toBeInstanceOf(MethodNotFoundError)
      expect(error.code).toBe('ERR_METHOD_NOT_FOUND')
      expect(error.message).toContain(JSON.stringify(name))
      expect(await client.rpc('echo', name)).toBe(name)
    },
  )
})

describe('values that cannot be serialized', () => {
  const cyclic = (): object => {
    const value: Record<string, unknown> = { name: 'loop' }
    value.self = value
    return value
  }

  // A function travels by reference (test/integration/references/); to a peer without references it
  // fails as these do (test/unit/references.test.ts).
  test.each([
    ['a symbol', () => Symbol('local')],
    ['a cyclic object', cyclic],
  ])('%s as an argument rejects locally with SerializationError and the channel keeps working', async (_label, make) => {
    expect.assertions(7)
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    const error = (await rejection(client.rpc('echo', make()))) as SerializationError
    expect(error).toBeInstanceOf(SerializationError)
    expect(error.code).toBe('ERR_SERIALIZATION')
    // Rejected before anything was sent: this is a local error, not a remote one.
    expect(error).not.toBeInstanceOf(RemoteError)
    expect(client.connected).toBe(true)
    expect(await client.rpc('add', 2, 2)).toBe(4)
    fixture.send({ cmd: 'errors' })
    expect((await nextMessage(fixture, 'errors')).errors).toEqual([])
  })

  test('notify with an unserializable argument throws SerializationError and the channel keeps working', async () => {
    expect.assertions(3)
    const { path } = await startServer()
    const client = await connectClient(path)
    try {
      client.notify('record', Symbol('local'))
    } catch (error) {
      expect(error).toBeInstanceOf(SerializationError)
      expect((error as SerializationError).code).toBe('ERR_SERIALIZATION')
    }
    expect(await client.rpc('recorded')).toEqual([])
  })

  test.each(['symbol', 'cyclic'])('a %s result on the remote side rejects with SerializationError and the channel keeps working', async (kind) => {
    expect.assertions(6)
    const { path } = await startServer()
    const client = await connectClient(path)
    const error = (await rejection(client.rpc('unserializable', kind))) as SerializationError
    expect(error).toBeInstanceOf(SerializationError)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.code).toBe('ERR_SERIALIZATION')
    expect(client.connected).toBe(true)
    expect(await client.rpc('echo', kind)).toBe(kind)
  })
})

describe('errors in the other direction: a server in the test process calls a client process', () => {
  test('remote classes, registered classes, thrown values and unknown names come back from the client', async () => {
    expect.assertions(12)
    const path = tempSocket()
    const server = await listenHere(path, { errors: [QuotaError] })
    const connected = new Promise<Channel>((resolve) => server.once('connection', resolve))
    const child = spawnFixture('client.mjs', [path])
    const channel = await connected
    await nextMessage(child, 'ready')

    const typeError = (await rejection(channel.rpc('throwTypeError'))) as TypeError
    expect(typeError).toBeInstanceOf(TypeError)
    expect(typeError).toBeInstanceOf(RemoteError)
    expect(typeError.stack).toContain('api.mjs')

    const quota = (await rejection(channel.rpc('throwQuota'))) as QuotaError
    expect(quota).toBeInstanceOf(QuotaError)
    expect(quota.limit).toBe(42)

    expect(await rejection(channel.rpc('throwValue', 'undefined'))).toBeUndefined()

    const missing = (await rejection(channel.rpc('constructor'))) as MethodNotFoundError
    expect(missing).toBeInstanceOf(MethodNotFoundError)

    expect(await channel.rpc('add', 1, 2)).toBe(3)
  })

  test('the channel is not closed by any of these failures', async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    const calls = ['throwTypeError', 'throwWithProps', 'throwWithCause', 'throwAggregate', 'nothing', 'toString']
    const settled = await Promise.allSettled(calls.map((name) => client.rpc(name)))
    expect(settled.every((s) => s.status === 'rejected')).toBe(true)
    expect(settled.some((s) => s.status === 'rejected' && s.reason instanceof ChannelClosedError)).toBe(false)
    expect(client.connected).toBe(true)
    expect(await client.rpc('add', 3, 4)).toBe(7)
  })
})
