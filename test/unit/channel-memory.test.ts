import { describe, expect, test } from 'vitest'
import { ChannelClosedError } from '../../src/index.js'
import { connectedPair } from '../helpers/pairs.js'

// Channels as they come out of the box: with the default heartbeat, which the pair helper leaves off.
const heartbeat = {}

describe('Channel over an in-memory pair', () => {
  test('calls both ways', async () => {
    const { server, client } = await connectedPair({ secret: 'x', heartbeat })
    server.expose('add', (a: number, b: number) => a + b)
    client.expose('twice', (a: number) => a * 2)
    expect(await client.rpc('add', 1, 2)).toBe(3)
    expect(await server.rpc('twice', 21)).toBe(42)
  })

  test('close settles pending calls on both sides', async () => {
    const { server, client } = await connectedPair({ heartbeat })
    server.expose('never', () => new Promise(() => {}))
    client.expose('never', () => new Promise(() => {}))
    const fromClient = client.rpc('never')
    const fromServer = server.rpc('never')
    const disconnected = new Promise((resolve) => server.once('disconnect', resolve))
    await client.close()
    await expect(fromClient).rejects.toBeInstanceOf(ChannelClosedError)
    await expect(fromServer).rejects.toBeInstanceOf(ChannelClosedError)
    await disconnected
  })
})
