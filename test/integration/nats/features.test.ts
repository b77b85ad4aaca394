/**
 * Everything a channel has, over NATS: calls both ways, notifications, progress, cancellation of a
 * stream, a callback by reference, the heartbeat and ping, describe() and a secret. The member runs in
 * this process, the broker in its own; every frame crosses the broker.
 */
import { describe, expect, it } from 'vitest'
import { AbortError, type Channel } from '../../../dist/index.js'
import { natsServerPath, startBroker } from '../../helpers/nats-broker.js'
import { listenHere, newClient, within } from '../support.js'

describe.skipIf(!natsServerPath)('NATS: everything a channel has', () => {
  it('carries calls both ways, notifications, progress, cancellation, references, ping and describe', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.features')
    const options = { secret: 'both', heartbeat: { interval: 200, timeout: 2000 } }
    const server = await listenHere(url, options)
    expect(server.address).toBe(url)
    expect(server.listening).toBe(true)
    const notified: unknown[] = []
    let generatorEnded!: () => void
    const ended = new Promise<void>((resolve) => (generatorEnded = resolve))
    server.expose('add', (a: number, b: number) => a + b, { description: 'adds two numbers' })
    server.expose('note', (value: unknown) => void notified.push(value))
    server.expose('noted', () => notified.slice())
    server.expose(
      'copy',
      (ctx: { progress(value: unknown): void }, steps: number) => {
        for (let i = 1; i <= steps; i++) ctx.progress(i)
        return 'copied'
      },
      { context: true },
    )
    server.expose('forever', async function* () {
      try {
        for (let i = 0; ; i++) yield i
      } finally {
        generatorEnded()
      }
    })
    server.expose('twice', async (callback: (n: number) => PromiseLike<number>, n: number) => (await callback(n)) + (await callback(n)))
    const channels: Channel[] = []
    server.on('connection', (channel) => channels.push(channel))

    let heartbeats!: () => void
    const pongs = new Promise<void>((resolve) => (heartbeats = resolve))
    let pongCount = 0
    const client = newClient(url, {
      ...options,
      trace: (event) => {
        if (event.direction === 'in' && event.type === 'pong' && ++pongCount === 3) heartbeats()
      },
    })
    client.expose('whoami', () => 'the client')
    expect(await within(5000, client.rpc('add', 2, 3), 'a call')).toBe(5)
    // The server calls the client back on the same channel.
    expect(await within(5000, channels[0].rpc('whoami'), 'a call back')).toBe('the client')
    client.notify('note', 'one')
    client.notify('note', 'two')
    expect(await client.rpc('noted')).toEqual(['one', 'two'])
    const progress: unknown[] = []
    expect(await client.rpc('copy', 3).onProgress((value) => progress.push(value))).toBe('copied')
    expect(progress).toEqual([1, 2, 3])
    // Leaving a stream early stops the remote generator.
    for await (const item of client.rpc<never, number>('forever')) if (item === 10) break
    await within(5000, ended, "the remote generator's end")
    const aborted = client.rpc('forever')
    aborted.abort()
    await expect(aborted).rejects.toBeInstanceOf(AbortError)
    // A callback travels by reference and runs here.
    expect(
      await within(
        5000,
        client.rpc('twice', (n: number) => n * 10, 4),
        'a call with a callback',
      ),
    ).toBe(80)
    expect(await client.ping()).toBeGreaterThanOrEqual(0)
    const described = await client.describe()
    expect(described.find((entry) => entry.name === 'add')).toMatchObject({ description: 'adds two numbers' })
    // The heartbeat (every 200 ms) is answered across the broker, and keeps the channel up.
    await within(5000, pongs, 'three answered heartbeats')
    expect(client.connected).toBe(true)
  })
})
