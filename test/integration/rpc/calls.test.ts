/**
 * Calls and notifications between a fixture server process and a client in the test process, over a
 * real Unix socket: both directions, the typed proxy, concurrency, queueing before the handshake,
 * ordering, and values that must cross exactly.
 */
import { describe, expect, test } from 'vitest'
import { type Channel, type Remote } from '../../../dist/index.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { connectClient, listenHere, newClient, nextMessage, startServer, within } from '../support.js'

interface ServerApi {
  add(a: number, b: number): number
  echo<T>(value: T): T
  delayedEcho<T>(value: T, ms: number): Promise<T>
  pid(): number
  record(value: unknown): void
  recorded(): unknown[]
}

describe('calls from the client to the server process', () => {
  test('client.rpc reaches a handler in another process', async () => {
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    expect(client.connected).toBe(true)
    expect(await client.rpc('add', 1, 2)).toBe(3)
    expect(await client.rpc('pid')).toBe(fixture.child.pid)
    expect(await client.rpc('pid')).not.toBe(process.pid)
  })

  test('remote<T>() proxies calls by name', async () => {
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    const api: Remote<ServerApi> = client.remote<ServerApi>()
    expect(await api.add(20, 22)).toBe(42)
    expect(await api.echo('hello')).toBe('hello')
    expect(await api.pid()).toBe(fixture.child.pid)
    // The proxy is not a thenable, so it can be returned from async functions.
    expect((api as unknown as { then?: unknown }).then).toBeUndefined()
  })

  test('client.notify reaches the server in order with later calls', async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    client.notify('record', 'one')
    client.notify('record', { two: 2 })
    expect(await client.rpc('recorded')).toEqual(['one', { two: 2 }])
  })
})

describe('calls from the server process to the client', () => {
  test('the server calls the client from its connection handler with rpc and remote<T>(), and notifies it', async () => {
    const { fixture, path } = await startServer({ callOnConnect: true })
    const client = newClient(path)
    const notified = new Promise<unknown>((resolve) => client.expose('record', resolve))
    const seen: string[] = []
    client.expose({
      add: (a: number, b: number) => {
        seen.push('add')
        return a + b
      },
      echo: (value: unknown) => {
        seen.push('echo')
        return { echoedBy: process.pid, value }
      },
      throwTypeError: () => {
        throw new TypeError('thrown by the test client')
      },
    })
    await client.ready()
    const report = await nextMessage(fixture, 'connection-calls')
    expect(report).toEqual({
      type: 'connection-calls',
      sum: 5,
      echoed: { echoedBy: process.pid, value: { from: 'server', list: [1, 2, 3] } },
      failure: {
        name: 'TypeError',
        message: 'thrown by the test client',
        isTypeError: true,
        isRemote: true,
      },
    })
    expect(seen).toEqual(['add', 'echo'])
    expect(await notified).toBe('notified by the server')
  })

  test('the server calls a client process later, on command, and gets its results and errors', async () => {
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    client.expose('multiply', (a: number, b: number) => a * b)
    // Commands act on the server's channels: wait until the server side has the connection too.
    await nextMessage(fixture, 'connection')
    fixture.send({ cmd: 'call', name: 'multiply', args: [6, 7], tag: 'm' })
    expect(await nextMessage(fixture, 'call-result')).toEqual({ type: 'call-result', tag: 'm', value: 42 })
    fixture.send({ cmd: 'call', name: 'missing', tag: 'x' })
    expect(await nextMessage(fixture, 'call-rejected')).toMatchObject({
      tag: 'x',
      error: { name: 'MethodNotFoundError', code: 'ERR_METHOD_NOT_FOUND', message: 'method not found: "missing"' },
    })
  })

  test('a server in the test process calls a client process both ways round', async () => {
    const path = tempSocket()
    const server = await listenHere(path)
    server.expose('double', (n: number) => n * 2)
    const connected = new Promise<Channel>((resolve) => server.once('connection', resolve))
    const child = spawnFixture('client.mjs', [path])
    const channel = await connected
    await nextMessage(child, 'ready')
    expect(await channel.rpc('add', 40, 2)).toBe(42)
    expect(await channel.remote<ServerApi>().pid()).toBe(child.child.pid)
    child.send({ cmd: 'call', name: 'double', args: [21], tag: 'd' })
    expect(await nextMessage(child, 'call-result')).toMatchObject({ tag: 'd', value: 42 })
    channel.notify('record', 'from the test server')
    expect(await channel.rpc('recorded')).toEqual(['from the test server'])
  })
})

describe('concurrency and ordering', () => {
  test('100 concurrent calls finish out of order and each result matches its call', async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    const finished: number[] = []
    const calls = Array.from({ length: 100 }, (_, i) =>
      client.rpc<{ index: number }>('delayedEcho', { index: i }, (100 - i) * 2).then((result) => {
        finished.push(i)
        return result
      }),
    )
    const results = await Promise.all(calls)
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => ({ index: i })))
    expect(finished).toHaveLength(100)
    expect(finished).not.toEqual([...finished].sort((a, b) => a - b))
    // Delays shrink with the index: late calls finish first.
    expect(finished.slice(0, 10).every((i) => i >= 80)).toBe(true)
    expect(finished.slice(-10).every((i) => i < 20)).toBe(true)
  })

  test('calls made before the handshake completes are queued and answered', async () => {
    const { path } = await startServer({ secret: 'queued' })
    const client = newClient(path, { secret: 'queued' })
    expect(client.connected).toBe(false)
    client.notify('record', 'queued notify')
    const first = client.rpc('add', 1, 2)
    const second = client.remote<ServerApi>().echo({ queued: true })
    const third = client.rpc('recorded')
    expect(client.connected).toBe(false)
    expect(await first).toBe(3)
    expect(await second).toEqual({ queued: true })
    expect(await third).toEqual(['queued notify'])
    await client.ready()
    expect(client.connected).toBe(true)
  })

  test('1000 notifications from the client arrive in order', async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    for (let i = 0; i < 1000; i++) client.notify('record', i)
    expect(await client.rpc('recorded')).toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })

  test('1000 notifications from the server process arrive in order', async () => {
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    const received: number[] = []
    const all = new Promise<void>((resolve) =>
      client.expose('tick', (i: number) => {
        received.push(i)
        if (received.length === 1000) resolve()
      }),
    )
    await nextMessage(fixture, 'connection')
    fixture.send({ cmd: 'notify', name: 'tick', count: 1000 })
    await within(5000, all, '1000 notifications')
    expect(received).toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })
})

describe('values cross the socket exactly', () => {
  test('binary, dates, maps, sets, bigints, nested objects and undefined in arrays round-trip', async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    const echo = <T>(value: T) => client.rpc<T>('echo', value)

    const bytes = await echo(new Uint8Array([0, 1, 127, 128, 255]))
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(Array.from(bytes)).toEqual([0, 1, 127, 128, 255])

    const buffer = await echo(Buffer.from('buffer \u00e9\u{1F600}'))
    expect(Buffer.isBuffer(buffer)).toBe(true)
    expect(buffer.toString()).toBe('buffer \u00e9\u{1F600}')

    // Frames larger than a socket read arrive in several chunks and are reassembled: a Buffer in
    // them is still a Buffer, and a Uint8Array still a plain Uint8Array, both ways.
    for (const size of [100_000, 1_000_000]) {
      const largeBuffer = await echo(Buffer.alloc(size, 7))
      expect(Buffer.isBuffer(largeBuffer)).toBe(true)
      expect(largeBuffer.byteLength).toBe(size)
      expect(largeBuffer.every((byte) => byte === 7)).toBe(true)
      const largeBytes = await echo(new Uint8Array(size).fill(9))
      expect(largeBytes.constructor).toBe(Uint8Array)
      expect(largeBytes.byteLength).toBe(size)
    }

    const date = await echo(new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)))
    expect(date).toBeInstanceOf(Date)
    expect(date.toISOString()).toBe('2024-02-29T12:34:56.789Z')

    const map = await echo(
      new Map<unknown, unknown>([
        [1, 'one'],
        [-2.5, 'float'],
        [true, 'bool'],
        [null, 'null'],
        [10n, 'bigint'],
        ['1', 'string one'],
      ]),
    )
    expect(map).toBeInstanceOf(Map)
    expect([...map]).toEqual([
      [1, 'one'],
      [-2.5, 'float'],
      [true, 'bool'],
      [null, 'null'],
      [10n, 'bigint'],
      ['1', 'string one'],
    ])
    expect(map.get(1)).toBe('one')
    expect(map.get('1')).toBe('string one')

    const set = await echo(new Set([1, 'one', 2n]))
    expect(set).toBeInstanceOf(Set)
    expect([...set]).toEqual([1, 'one', 2n])

    for (const big of [0n, 7n, -7n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 64n + 1n, 2n ** 100n + 12345n, -(2n ** 100n) - 3n]) {
      const back = await echo(big)
      expect(typeof back).toBe('bigint')
      expect(back).toBe(big)
    }

    const nested = {
      name: 'root',
      list: [1, undefined, 'three', undefined],
      deep: { a: { b: { c: { d: [null, { e: new Date(0) }, new Map([[{ key: 'object' }, new Set(['v'])]])] } } } },
      bin: { inner: new Uint8Array([9, 8, 7]) },
      empty: {},
      none: null,
    }
    const back = await echo(nested)
    expect(back).toEqual(nested)
    expect(back.list).toHaveLength(4)
    expect(1 in back.list && back.list[1] === undefined).toBe(true)
    expect(back.list[3]).toBeUndefined()
  })

  test('undefined arguments and results keep their positions', async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    expect(await client.rpc('echo', undefined)).toBeUndefined()
    expect(await client.rpc('echo', [undefined, undefined])).toEqual([undefined, undefined])
    expect(await client.rpc('record', 'returns nothing')).toBeUndefined()
  })

  test('a 16 MiB Uint8Array round-trips byte-exact under the default maxFrameSize', async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    const size = 16 * 1024 * 1024
    const data = new Uint8Array(size)
    let x = 0x12345678
    for (let i = 0; i < size; i++) {
      // xorshift: a pattern that catches reordered or shifted chunks.
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      data[i] = x & 0xff
    }
    const back = await client.rpc<Uint8Array>('echo', data)
    expect(back).toBeInstanceOf(Uint8Array)
    expect(back.byteLength).toBe(size)
    expect(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(data.buffer))).toBe(0)
    // The channel still works after a large frame.
    expect(await client.rpc('add', 1, 1)).toBe(2)
  })
})
