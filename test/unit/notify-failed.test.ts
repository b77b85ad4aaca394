/**
 * Notifications that fail on the peer, reported to a sender that asked (`notifyErrors`): the hello key
 * that asks, the NotifyFailed message (type 17), and what each side does with it. PROTOCOL.md 6.2.
 */
import pDefer from 'p-defer'
import { describe, expect, onTestFinished, test, vi } from 'vitest'
import { Channel, MethodNotFoundError, ProtocolError, type ChannelOptions } from '../../src/index.js'
import { attachTransport } from '../../src/core/channel.js'
import { Handshake } from '../../src/core/handshake.js'
import { OutgoingCalls } from '../../src/core/outgoing-calls.js'
import { Codec } from '../../src/protocol/codec.js'
import { decodeHandshake } from '../../src/protocol/handshake-decoder.js'
import { MAGIC, MessageType, PROTOCOL_VERSION, parseMessage } from '../../src/protocol/messages.js'
import { memoryPair } from '../helpers/memory-transport.js'
import { rejection } from '../helpers/outcome.js'
import { connectedPair } from '../helpers/pairs.js'

const codec = new Codec()

/** A channel facing a peer driven by hand, which has sent its hello (with `hello` options) already. */
async function rawPeer(options: ChannelOptions, hello: Record<string, unknown>) {
  const [own, peer] = memoryPair()
  const channel = new Channel({ heartbeat: false, ...options })
  onTestFinished(async () => {
    await channel.destroy()
  })
  const received: unknown[][] = []
  const waiters: (() => void)[] = []
  const closed = pDefer<void>()
  const message = (payload: Uint8Array): void => {
    received.push(codec.decode(payload) as unknown[])
    for (const wake of waiters.splice(0)) wake()
  }
  peer.start({ message, closed: () => closed.resolve(), drain: () => {} })
  /** Resolves once `count` messages of `type` have arrived. */
  const arrived = async (type: number, count: number): Promise<unknown[][]> => {
    for (;;) {
      const matching = received.filter((message) => message[0] === type)
      if (matching.length >= count) return matching
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  const attached = attachTransport(channel, own, 'server')
  peer.inject(codec.encode([MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, hello] as never))
  await attached
  return { channel, received, arrived, closed: closed.promise, send: (message: unknown[]) => peer.inject(codec.encode(message as never)) }
}

describe('the hello key', () => {
  test('a side with notifyErrors asks in its hello; one without does not', async () => {
    const asking = await rawPeer({ notifyErrors: true }, {})
    expect(asking.received[0][4]).toMatchObject({ notifyErrors: true })
    const quiet = await rawPeer({}, {})
    expect(quiet.received[0][4]).not.toHaveProperty('notifyErrors')
  })

  test('is read as true only when it is true', () => {
    const hello = (value: unknown) => codec.encode([MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, { notifyErrors: value }] as never)
    expect(decodeHandshake(hello(true))[4]).toEqual({ notifyErrors: true })
    for (const value of [false, 1, 'true', null, [true]]) expect(decodeHandshake(hello(value))[4]).toEqual({})
    const own = new Handshake('client', undefined, { window: 8, maxFrameSize: 2048, notifyErrors: true }).hello()
    expect(decodeHandshake(codec.encode(own))).toEqual(own)
  })
})

describe('the receiving side', () => {
  test('reports a failed notification to a peer that asked, and still on its own error event', async () => {
    const peer = await rawPeer({}, { notifyErrors: true })
    const errors: Error[] = []
    peer.channel.on('error', (error) => errors.push(error))
    peer.channel.expose('echo', (value: unknown) => value)
    peer.channel.expose('explode', () => {
      throw new RangeError('exploded')
    })
    peer.send([MessageType.Notify, 'ecoh', [1]])
    peer.send([MessageType.Notify, 'explode', []])
    peer.send([MessageType.Notify, 'echo', ['fine']])
    const reports = await peer.arrived(MessageType.NotifyFailed, 2)
    expect(
      reports.map((message) => [message[1], (message[2] as { name: string; message: string }).name, (message[2] as { message: string }).message]),
    ).toEqual([
      ['ecoh', 'MethodNotFoundError', 'notification for an unknown method: "ecoh" (did you mean "echo"? 2 names are exposed)'],
      ['explode', 'RangeError', 'exploded'],
    ])
    expect(errors.map((error) => error.message)).toEqual([
      'notification for an unknown method: "ecoh" (did you mean "echo"? 2 names are exposed)',
      'exploded',
    ])
  })

  test('sends nothing to a peer that did not ask', async () => {
    const peer = await rawPeer({}, {})
    peer.channel.on('error', () => {})
    peer.send([MessageType.Notify, 'missing', []])
    // A call behind it: its answer comes after any report would have.
    peer.send([MessageType.Call, 1, 'missing', []])
    await peer.arrived(MessageType.Error, 1)
    expect(peer.received.filter((message) => message[0] === MessageType.NotifyFailed)).toEqual([])
  })

  test('repeats at most 256 characters of a long name', async () => {
    const peer = await rawPeer({}, { notifyErrors: true })
    peer.channel.on('error', () => {})
    peer.send([MessageType.Notify, 'x'.repeat(10_000), []])
    const [report] = await peer.arrived(MessageType.NotifyFailed, 1)
    expect(report[1]).toBe(`${'x'.repeat(256)}...`)
  })
})

describe('the asking side', () => {
  test("emits the peer's error, rebuilt, on its error event with the notification's name in the stack", async () => {
    const { server, client } = await connectedPair({}, { notifyErrors: true })
    server.on('error', () => {})
    const errors: Error[] = []
    client.on('error', (error) => errors.push(error))
    client.notify('missing')
    await client.rpc('missing').then(undefined, () => {})
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(MethodNotFoundError)
    expect(errors[0].stack).toMatch(/\n {4}at remote notify "missing" \(ipc-channel\)$/)
    expect(client.stats().notificationsFailed).toBe(1)
    expect(server.stats().notificationsFailed).toBe(0)
  })

  test('a NotifyFailed it did not ask for is a ProtocolError', async () => {
    const peer = await rawPeer({}, {})
    const errors: Error[] = []
    peer.channel.on('error', (error) => errors.push(error))
    const pending = rejection(peer.channel.rpc('anything'))
    peer.send([MessageType.NotifyFailed, 'x', { type: 'error', name: 'Error', message: 'unasked' }])
    await peer.closed
    expect(errors[0]).toBeInstanceOf(ProtocolError)
    expect(errors[0].message).toBe('a notify-failed message, which this side did not ask for')
    await pending
  })

  test('counts the reports, which stats() reads', () => {
    const calls = new OutgoingCalls(
      { streamWindow: 64, errorClasses: undefined, callTimeout: undefined, callSites: false, notifyErrors: true },
      { encode: vi.fn(), send: vi.fn(), withdraw: () => false, cancel: vi.fn(), credit: vi.fn(), connected: () => true, ending: () => false },
    )
    expect(calls.notificationsFailed).toBe(0)
    const error = calls.notifyFailed('log', { type: 'value', value: 'a thrown string' })
    expect(error.message).toBe('notification "log" failed on the peer')
    expect(error.cause).toBe('a thrown string')
    calls.notifyFailed('log', { type: 'error', name: 'TypeError', message: 'bad' })
    expect(calls.notificationsFailed).toBe(2)
  })
})

test('a NotifyFailed message is [17, name, envelope]; a name that is not text is malformed', () => {
  expect(parseMessage([17, 'x', {}])).toEqual([17, 'x', {}])
  expect(() => parseMessage([17, 3, {}])).toThrow(new ProtocolError('malformed notify-failed message'))
})
