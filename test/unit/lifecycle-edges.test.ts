import { describe, expect, test } from 'vitest'
import { Channel, ChannelClosedError, ProtocolError } from '../../src/index.js'
import { Handshake, secretBytes } from '../../src/core/handshake.js'
import type { Transport, TransportSink } from '../../src/core/transport.js'
import { Codec } from '../../src/protocol/codec.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'
import { MessageType } from '../../src/protocol/messages.js'
import { attachTransport } from '../../src/core/channel.js'
import { connectedPair } from '../helpers/pairs.js'

/** A transport the test drives by hand: it records what the channel sends and delivers what the test says. */
class HandTransport implements Transport {
  sink!: TransportSink
  readonly sent: Uint8Array[] = []
  ended = false
  start(sink: TransportSink): void {
    this.sink = sink
  }
  send(payload: Payload): boolean {
    this.sent.push(joinPayload(payload))
    return true
  }
  close(): void {
    this.destroy()
  }
  destroy(error?: Error): void {
    if (this.ended) return
    this.ended = true
    this.sink.closed(error)
  }
}

describe('a handshake this side has failed stays failed', () => {
  test('junk before the proof fails it, and the proof that follows does not open the channel', async () => {
    const codec = new Codec()
    const transport = new HandTransport()
    const channel = new Channel({ secret: 's', heartbeat: false })
    let connects = 0
    channel.on('connect', () => connects++)
    const attached = attachTransport(channel, transport, 'server')
    const peer = new Handshake('client', secretBytes('s'), {})
    let auth: unknown[] | undefined
    await peer.receive(codec.decode(transport.sent[0]) as unknown[], (message) => (auth = message))
    // All in one go, as from one read: the channel is still verifying when the junk arrives.
    transport.sink.message(codec.encode(peer.hello()))
    transport.sink.message(codec.encode([MessageType.Call, 1, 'x', []]))
    transport.sink.message(codec.encode(auth as never))
    await expect(attached).rejects.toBeInstanceOf(ProtocolError)
    expect(connects).toBe(0)
    expect(channel.connected).toBe(false)
  })
})

test('several next() calls in flight on a stream each get an item, in order', async () => {
  const { server, client } = await connectedPair()
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  server.expose('two', async function* () {
    await gate
    yield 'x'
    yield 'y'
  })
  const iterator = client.rpc('two')[Symbol.asyncIterator]()
  const first = iterator.next()
  const second = iterator.next()
  release()
  expect(await first).toEqual({ value: 'x', done: false })
  expect(await second).toEqual({ value: 'y', done: false })
  expect(await iterator.next()).toEqual({ value: undefined, done: true })
})

test('ready() on a channel that is closed before any transport rejects instead of hanging', async () => {
  const channel = new Channel({ heartbeat: false })
  const ready = channel.ready()
  await channel.close()
  await expect(ready).rejects.toBeInstanceOf(ChannelClosedError)
})
