/**
 * Two channels of the test process joined by the in-memory transport (memory-transport.ts), for unit
 * tests of the core: made, attached as server and client, and destroyed when the test ends.
 */
import { onTestFinished } from 'vitest'
import { Channel, type ChannelOptions } from '../../src/index.js'
import { attachTransport } from '../../src/core/channel.js'
import { memoryPair, type MemoryTransport } from './memory-transport.js'

export interface ChannelPair {
  server: Channel
  client: Channel
  serverTransport: MemoryTransport
  clientTransport: MemoryTransport
  /** Attaches both channels to their transports, which starts the handshake on both sides. */
  attach(): [server: Promise<void>, client: Promise<void>]
}

/**
 * Two channels over a fresh in-memory pair, not attached yet: for tests that act before the handshake
 * or look at how it fails. The client takes the server's options unless given its own. Heartbeats are
 * off unless asked for, because their timers and pings would show in tests that count timers or
 * payloads sent.
 */
export function channelPair(serverOptions: ChannelOptions = {}, clientOptions: ChannelOptions = serverOptions): ChannelPair {
  const [serverTransport, clientTransport] = memoryPair()
  const server = new Channel({ heartbeat: false, ...serverOptions })
  const client = new Channel({ heartbeat: false, ...clientOptions })
  onTestFinished(async () => {
    await Promise.all([server.destroy(), client.destroy()])
  })
  return {
    server,
    client,
    serverTransport,
    clientTransport,
    attach: () => [attachTransport(server, serverTransport, 'server'), attachTransport(client, clientTransport, 'client')],
  }
}

/** Two channels over a fresh in-memory pair that have completed their handshake; see channelPair. */
export async function connectedPair(serverOptions: ChannelOptions = {}, clientOptions: ChannelOptions = serverOptions): Promise<ChannelPair> {
  const pair = channelPair(serverOptions, clientOptions)
  await Promise.all(pair.attach())
  return pair
}
