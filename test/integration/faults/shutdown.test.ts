/**
 * Fault tests: the two speeds of shutdown. A graceful close still delivers the replies already
 * produced; destroy() ends at once; both are idempotent on Channel, Client and Server; and
 * server.close() stops accepting before it waits for its channels.
 */
import { describe, expect, onTestFinished, test } from 'vitest'
import { ChannelClosedError, Client, Server, listen, type Channel } from '../../../dist/index.js'
import { mailbox, type Report } from '../../helpers/mailbox.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { outcome } from '../../helpers/outcome.js'
import { helloFrame, rawConnect } from '../../helpers/wire.js'
import { onWindows, underWine } from '../../helpers/platform.js'
import { startFaultServer, within } from './support.js'

const MiB = 1024 * 1024

function newClient(path: string): Client {
  const client = new Client(path)
  client.on('error', () => {})
  onTestFinished(() => client.destroy())
  return client
}

/** A Server of the test process, destroyed after the test. */
async function inProcessServer(): Promise<{ server: Server; path: string }> {
  const path = tempSocket()
  const server = await listen(path)
  server.on('error', () => {})
  onTestFinished(() => server.destroy())
  return { server, path }
}

/** Counts the events of `emitter`. */
function count(emitter: { on(event: string, fn: () => void): unknown }, event: string): () => number {
  let n = 0
  emitter.on(event, () => n++)
  return () => n
}

interface Disconnect extends Report {
  reason: { name: string; message: string } | null
}

describe('graceful close', () => {
  test('replies already produced are delivered ahead of the goodbye, even when they wait in the outbox', async () => {
    const server = await startFaultServer()
    const client = newClient(server.path)
    await client.ready()
    const disconnected = new Promise<Error | undefined>((resolve) => client.once('disconnect', resolve))
    // Ten replies of 1 MiB back up behind the socket; the last call's handler closes its channel right
    // after answering, while those replies still wait to be written.
    const blobs = Array.from({ length: 10 }, (_, i) => client.rpc<Uint8Array>('blob', MiB, i))
    const last = client.rpc('closeAfterReply', 'bye')
    const results = await within(10_000, Promise.all(blobs.map((call) => outcome(call))), 'the replies')
    results.forEach((result, i) => {
      expect(result.status).toBe('fulfilled')
      const bytes = (result as { value: Uint8Array }).value
      expect(bytes.byteLength).toBe(MiB)
      expect(bytes[0] === i && bytes[MiB - 1] === i).toBe(true)
    })
    expect(await within(2000, last, 'the last reply')).toBe('bye')
    // A goodbye: the disconnect carries no error.
    expect(await within(2000, disconnected, 'disconnect')).toBeUndefined()
    expect((await server.mail.take<Disconnect>('disconnect')).reason).toBeNull()
  })

  test('client.close() rejects pending calls with ChannelClosedError and the server sees a goodbye', async () => {
    const server = await startFaultServer()
    const client = newClient(server.path)
    await client.ready()
    const held = [client.rpc('hold', 1), client.rpc('hold', 2)].map((call) => outcome(call))
    await server.mail.take('held')
    await server.mail.take('held')
    await within(3000, client.close(), 'close()')
    for (const result of await Promise.all(held)) {
      expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    }
    expect((await server.mail.take<Disconnect>('disconnect')).reason).toBeNull()
  })
})

describe('destroy()', () => {
  test('client.destroy() settles everything at once, without a goodbye', async () => {
    const server = await startFaultServer()
    const client = newClient(server.path)
    await client.ready()
    const held = [client.rpc('hold', 1), client.rpc('hold', 2)]
    await server.mail.take('held')
    await server.mail.take('held')
    const cause = new Error('shutting down now')
    const destroyed = client.destroy(cause)
    // Synchronously: no longer connected, every pending call already rejected.
    expect(client.connected).toBe(false)
    for (const call of held) {
      expect(call.failed).toBe(true)
      expect(call.error).toBeInstanceOf(ChannelClosedError)
      expect((call.error as Error).cause).toBe(cause)
    }
    await within(500, destroyed, 'destroy()')
    // No goodbye: the server sees a lost connection.
    expect((await server.mail.take<Disconnect>('disconnect')).reason).not.toBeNull()
  })

  test('server.destroy() does not wait for a peer that will not finish closing', async () => {
    const { server, path } = await inProcessServer()
    const peer = await rawConnect(path, { read: false })
    peer.socket.write(helloFrame())
    await new Promise<Channel>((resolve) => server.once('connection', resolve))
    const started = Date.now()
    await within(1000, server.destroy(), 'server.destroy()')
    expect(Date.now() - started).toBeLessThan(500)
    // The peer sees the end as soon as it reads again.
    peer.socket.resume()
    await within(1000, peer.closed, 'the peer seeing the end')
  })
})

describe('idempotence', () => {
  test('Client: close() and destroy() in any order and any number of times', async () => {
    const server = await startFaultServer()
    const a = newClient(server.path)
    const b = newClient(server.path)
    await Promise.all([a.ready(), b.ready()])
    const aDisconnects = count(a, 'disconnect')
    const bDisconnects = count(b, 'disconnect')
    await within(3000, Promise.all([a.close(), a.close(), a.destroy(), a.close()]), 'closing a')
    await within(3000, Promise.all([b.destroy(), b.destroy(new Error('again')), b.close()]), 'destroying b')
    await within(1000, Promise.all([a.close(), a.destroy(), b.close(), b.destroy()]), 'closing again')
    expect(aDisconnects()).toBe(1)
    expect(bDisconnects()).toBe(1)
    expect(((await outcome(a.rpc('add', 1, 1))) as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    expect(() => b.notify('add', 1, 1)).toThrow(ChannelClosedError)
  })

  test('Channel (server side): close() and destroy() in any order and any number of times', async () => {
    const { server, path } = await inProcessServer()
    const channels: Channel[] = []
    const twoConnected = new Promise<void>((resolve) =>
      server.on('connection', (channel) => {
        channels.push(channel)
        if (channels.length === 2) resolve()
      }),
    )
    const clients = mailbox(spawnFixture('faults-clients.mjs', [path, JSON.stringify({ connections: 2, calls: 1 })]))
    await clients.take('ready')
    await twoConnected
    const [a, b] = channels
    const aDisconnects = count(a, 'disconnect')
    const bDisconnects = count(b, 'disconnect')
    const pending = b.rpc('notExposed')
    const cause = new Error('server going away')
    await within(3000, Promise.all([a.close(), a.close(), a.destroy()]), 'closing a')
    await within(3000, Promise.all([b.destroy(cause), b.close(), b.destroy()]), 'destroying b')
    await within(1000, Promise.all([a.close(), b.close(), a.destroy(), b.destroy()]), 'closing again')
    const result = await outcome(pending)
    expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    expect((result as { reason: Error }).reason.cause).toBe(cause)
    expect(aDisconnects()).toBe(1)
    expect(bDisconnects()).toBe(1)
    expect(a.connected || b.connected).toBe(false)
    expect(server.channels.size).toBe(0)
  })

  test('Server: close() and destroy() repeated resolve once and emit close once', async () => {
    const { server, path } = await inProcessServer()
    const closes = count(server, 'close')
    const client = newClient(path)
    await client.ready()
    const first = server.close()
    expect(server.close()).toBe(first)
    expect(server.destroy()).toBe(first)
    await within(3000, first, 'server.close()')
    await within(1000, Promise.all([server.close(), server.destroy()]), 'closing again')
    expect(closes()).toBe(1)
    expect(server.listening).toBe(false)
  })
})

describe('server.close()', () => {
  // A Unix socket stops accepting with its listening socket: a late attempt is refused at once. A
  // Windows pipe name lives as long as any of its instances: while a connected channel still closes,
  // a late attempt finds the name busy and waits in the system (libuv's WaitNamedPipe), and is
  // refused when the last instance goes. Either way it never reaches the closing server.
  test('stops accepting first: a connection attempt during close is never accepted while a channel is still closing', async () => {
    const { server, path } = await inProcessServer()
    // A peer that completes the handshake and then reads nothing: its channel cannot finish a
    // graceful close until the grace period runs out.
    const peer = await rawConnect(path, { read: false })
    peer.socket.write(helloFrame())
    await new Promise<Channel>((resolve) => server.once('connection', resolve))
    let closed = false
    server.once('close', () => (closed = true))
    const accepted = count(server, 'connection')
    const closing = server.close()
    expect(server.listening).toBe(false)
    const late = new Client(path)
    late.on('error', () => {})
    onTestFinished(() => late.destroy())
    const attempt = outcome(late.ready())
    if (!onWindows) {
      const refused = await within(2000, attempt, 'the late connection attempt')
      expect(refused.status).toBe('rejected')
      expect((refused as { reason: NodeJS.ErrnoException }).reason.code).toMatch(/ECONNREFUSED|ENOENT/)
      // Refused while the server was still closing its channel.
      expect(closed).toBe(false)
      expect(server.channels.size).toBe(1)
    }
    peer.socket.destroy()
    await within(3000, closing, 'server.close()')
    expect(closed).toBe(true)
    const result = await within(5000, attempt, 'the late connection attempt')
    expect(result.status).toBe('rejected')
    // Wine ends the wait with a status libuv does not map: 'UNKNOWN' there.
    expect((result as { reason: NodeJS.ErrnoException }).reason.code).toMatch(underWine ? /ENOENT|UNKNOWN/ : /ECONNREFUSED|ENOENT/)
    expect(accepted()).toBe(0)
  })
})
