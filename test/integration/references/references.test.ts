/**
 * References across processes: this test process is a Client of test/fixtures/references-server.mjs
 * over a Unix socket. Callbacks called many times during one call, a subscription that ends by
 * disposing, objects used after the call that returned them, identity both ways, AbortSignals,
 * streams and progress carrying references, what a peer's death does to stubs, the bound, and every
 * count back to 0 after garbage collection.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, test } from 'vitest'
import { ChannelClosedError, ref, SerializationError, type ChannelStats, type Client, type Stub } from '../../../dist/index.js'
import { mailbox, type Mailbox, type Report } from '../../helpers/mailbox.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { connectClient, listenHere, newClient, within } from '../support.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

interface ReferenceServer {
  path: string
  mail: Mailbox
  /** The server's counts, after it collected garbage. */
  stats(): Promise<ChannelStats>
}

async function startReferenceServer(options: Record<string, unknown> = {}): Promise<ReferenceServer> {
  const path = tempSocket()
  const mail = mailbox(spawnFixture('references-server.mjs', [path, JSON.stringify(options)]))
  await mail.take('listening', 15_000)
  return { path, mail, stats: async () => (await mail.ask<Report & { stats: ChannelStats }>({ cmd: 'stats' }, 'stats', 10_000)).stats }
}

async function connected(
  options: Record<string, unknown> = {},
  clientOptions: Record<string, unknown> = {},
): Promise<{ server: ReferenceServer; client: Client }> {
  const server = await startReferenceServer(options)
  return { server, client: await connectClient(server.path, clientOptions) }
}

/** Collects garbage here and in the server until both sides' counts are 0 (at most `rounds` times). */
async function settleToZero(server: ReferenceServer, client: Client, rounds = 20): Promise<{ client: ChannelStats; server: ChannelStats }> {
  let counts = { client: client.stats(), server: await server.stats() }
  for (let i = 0; i < rounds; i++) {
    const total =
      counts.client.exportedReferences + counts.client.importedReferences + counts.server.exportedReferences + counts.server.importedReferences
    if (total === 0) break
    gc()
    await new Promise((resolve) => setTimeout(resolve, 20))
    counts = { client: client.stats(), server: await server.stats() }
  }
  return counts
}

const ZERO = { exportedReferences: 0, importedReferences: 0, notificationsFailed: 0 }

describe('callbacks', () => {
  test('a callback called 1,000 times during one call', async () => {
    const { client } = await connected()
    let calls = 0
    const sum = await within(
      20_000,
      client.rpc('callMany', (i: number) => (calls++, i), 1000),
      'callMany',
    )
    expect(calls).toBe(1000)
    expect(sum).toBe((999 * 1000) / 2)
  })

  test('a subscription: events arrive until the holder disposes the stub, and the export count returns to 0', async () => {
    const { server, client } = await connected()
    const events: string[] = []
    const listener = (event: string): void => {
      events.push(event)
    }
    await client.rpc('subscribe', 'news', listener)
    expect(client.stats().exportedReferences).toBe(1)
    expect(await client.rpc('publish', 'news', 'first')).toBe(1)
    expect(await client.rpc('publish', 'news', 'second')).toBe(1)
    expect(events).toEqual(['first', 'second'])
    // The same function arrives as the same stub: the server finds it and disposes it.
    expect(await client.rpc('unsubscribe', 'news', listener)).toBe(true)
    expect(await client.rpc('publish', 'news', 'third')).toBe(0)
    expect(events).toEqual(['first', 'second'])
    expect(client.stats().exportedReferences).toBe(0)
    expect(await server.stats()).toEqual(ZERO)
  })

  test('100,000 callbacks passed and dropped: both counts return to 0 after collection', async () => {
    const { server, client } = await connected({ maxReferences: 100_000 }, { maxReferences: 100_000 })
    const batch = 1000
    for (let i = 0; i < 100; i++) {
      const callbacks = Array.from({ length: batch }, (_, j) => () => i * batch + j)
      await client.rpc('hold', ...callbacks)
      await client.rpc('drop')
    }
    expect(client.stats().exportedReferences).toBeGreaterThan(0)
    const counts = await settleToZero(server, client)
    expect(counts).toEqual({ client: ZERO, server: ZERO })
  })
})

describe('objects and identity', () => {
  test('an object returned by reference is used after the call that returned it', async () => {
    const { client } = await connected()
    const account = (await client.rpc('openAccount')) as Stub<{ deposit(amount: number): number; balance(): number }>
    expect(await account.deposit(10)).toBe(10)
    expect(await account.deposit(5)).toBe(15)
    expect(await account.balance()).toBe(15)
    expect(client.stats().importedReferences).toBe(1)
  })

  test('identity round trip: a function and a ref() object come back as themselves, both ways', async () => {
    const { client } = await connected()
    const fn = (): number => 1
    const object = { f: () => 2 }
    expect(await client.rpc('echo', fn)).toBe(fn)
    expect(await client.rpc('echo', ref(object))).toBe(object)
    // The server's own function and object, sent back to it, are its originals.
    const both = (await client.rpc('giveBoth')) as { fn: unknown; object: unknown }
    expect(await client.rpc('isGiven', both.fn)).toBe(true)
    expect(await client.rpc('isGiven', both.object)).toBe(true)
    expect(await client.rpc('giveBoth')).toEqual(both)
    expect(((await client.rpc('giveBoth')) as { fn: unknown }).fn).toBe(both.fn)
  })
})

describe('lifetime', () => {
  test('a stub used after the peer died rejects with ChannelClosedError', async () => {
    const { client } = await connected()
    const account = (await client.rpc('openAccount')) as Stub<{ balance(): number }>
    const disconnected = new Promise((resolve) => client.once('disconnect', resolve))
    void client.rpc('exit', 0).catch(() => {})
    await within(10_000, disconnected, 'the disconnect')
    const error = await account.balance().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(client.stats()).toEqual(ZERO)
  })

  test('a reconnecting client: the stubs of the old connection stay dead, new ones work, and callbacks go out again', async () => {
    const path = tempSocket()
    const server = await listenHere(path)
    let balance = 0
    server.expose('openAccount', () => ref({ balance: () => balance }))
    server.expose('callOnce', (callback: Stub<() => string>) => callback())
    const client = newClient(path, { reconnect: { initialDelay: 10 } })
    await client.ready()
    const old = (await client.rpc('openAccount')) as Stub<{ balance(): number }>
    expect(await old.balance()).toBe(0)
    const reconnected = new Promise<void>((resolve) => client.once('connect', () => resolve()))
    for (const channel of server.channels) await channel.destroy()
    await within(10_000, reconnected, 'the reconnect')
    balance = 7
    expect(await old.balance().catch((e: unknown) => e)).toBeInstanceOf(ChannelClosedError)
    // A stub of the ended connection cannot be sent on the new one.
    expect(await client.rpc('callOnce', old).catch((e: unknown) => e)).toBeInstanceOf(SerializationError)
    const fresh = (await client.rpc('openAccount')) as Stub<{ balance(): number }>
    expect(await fresh.balance()).toBe(7)
    expect(await client.rpc('callOnce', () => 'called')).toBe('called')
  })

  test('maxReferences: the lower bound of the two ends holds, and calls without references go on', async () => {
    const { client } = await connected({ maxReferences: 5 })
    for (let i = 0; i < 5; i++) await client.rpc('hold', () => i)
    const error = await client.rpc('hold', () => 6).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SerializationError)
    expect((error as Error).message).toMatch(/maxReferences/)
    expect(await client.rpc('echo', 'still open')).toBe('still open')
  })
})

describe('signals, streams and progress', () => {
  test('an AbortSignal passed as an argument aborts the remote side with the sender reason', async () => {
    const { client } = await connected()
    const controller = new AbortController()
    const waiting = client.rpc('waitAbort', controller.signal)
    // A round trip behind it: the server holds the signal now.
    await client.rpc('echo', 1)
    controller.abort(new RangeError('stop now'))
    expect(await within(10_000, waiting, 'waitAbort')).toEqual({ name: 'RangeError', message: 'stop now' })
  })

  test('references through a streaming call: items that carry functions, and a callback called per item', async () => {
    const { client } = await connected()
    const products: number[] = []
    for await (const item of client.rpc<unknown, { index: number; times: Stub<(x: number) => number> }>('multipliers', 4)) {
      products.push(await item.times(10))
    }
    expect(products).toEqual([0, 10, 20, 30])
    expect(await client.rpc('mapped', (i: number) => `item ${i}`, 3)).toEqual(['item 0', 'item 1', 'item 2'])
  })

  test('references in progress values', async () => {
    const { client } = await connected()
    const undos: Stub<() => string>[] = []
    const steps = await client.rpc('reportProgress', 3).onProgress((value) => undos.push((value as { undo: Stub<() => string> }).undo))
    expect(steps).toBe(3)
    expect(await Promise.all(undos.map((undo) => undo()))).toEqual(['undo 1', 'undo 2', 'undo 3'])
  })
})
