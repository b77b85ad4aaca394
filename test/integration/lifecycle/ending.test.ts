/**
 * Ending connections: a peer process killed with SIGKILL in the middle of calls (either side), calls
 * after close, and close() on one side settling what is pending on both sides.
 */
import { existsSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { ChannelClosedError, type Channel } from '../../../dist/index.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { outcome } from '../../helpers/outcome.js'
import { connectClient, type DescribedError, type FixtureMessage, listenHere, nextMessage, startServer, within } from '../support.js'

interface Rejected extends FixtureMessage {
  tag: string
  error: DescribedError
}

describe('a peer killed with SIGKILL', () => {
  test('the server process dies mid-call: pending calls reject with ChannelClosedError and disconnect fires', async () => {
    expect.assertions(9)
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    const disconnected = new Promise<Error | undefined>((resolve) => client.once('disconnect', resolve))
    // Observed from the start, as any promise that may reject while the test awaits something else.
    const pending = [client.rpc('hang', 'a'), client.rpc('hang', 'b'), client.rpc('delayedEcho', 'late', 60_000)].map(outcome)
    await nextMessage(fixture, 'hanging')
    await nextMessage(fixture, 'hanging')
    fixture.child.kill('SIGKILL')
    expect(await fixture.exited).toBe('SIGKILL')
    const settled = await within(2000, Promise.all(pending), 'settling pending calls')
    for (const result of settled) {
      expect(result.status === 'rejected' && result.reason instanceof ChannelClosedError).toBe(true)
    }
    const reason = await within(2000, disconnected, 'disconnect')
    expect(reason).toBeInstanceOf(Error)
    expect(client.connected).toBe(false)
    // Calls after the connection is gone reject at once too.
    const after = await outcome(client.rpc('add', 1, 2))
    expect(after.status === 'rejected' && after.reason instanceof ChannelClosedError).toBe(true)
    expect((after as { reason: ChannelClosedError }).reason.code).toBe('ERR_CHANNEL_CLOSED')
    expect(() => client.notify('record', 1)).toThrow(ChannelClosedError)
  })

  test('the client process dies while the server awaits a call to it: the call rejects and the channel leaves server.channels', async () => {
    expect.assertions(7)
    const path = tempSocket()
    const server = await listenHere(path)
    const connected = new Promise<Channel>((resolve) => server.once('connection', resolve))
    const child = spawnFixture('client.mjs', [path])
    const channel = await connected
    await nextMessage(child, 'ready')
    expect(server.channels.has(channel)).toBe(true)
    const disconnected = new Promise<void>((resolve) => channel.once('disconnect', () => resolve()))
    const pending = channel.rpc('hang', 'server-side')
    await nextMessage(child, 'hanging')
    child.child.kill('SIGKILL')
    const result = await within(2000, outcome(pending), 'the pending call')
    expect(result.status).toBe('rejected')
    expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    await within(2000, disconnected, 'disconnect')
    expect(server.channels.has(channel)).toBe(false)
    expect(server.channels.size).toBe(0)
    const after = await outcome(channel.rpc('add', 1, 2))
    expect((after as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    expect(await child.exited).toBe('SIGKILL')
  })

  test('other clients of the server are unaffected when one client process is killed', async () => {
    const { fixture, path } = await startServer()
    const survivor = await connectClient(path)
    const victim = spawnFixture('client.mjs', [path])
    await nextMessage(victim, 'ready')
    await nextMessage(fixture, 'connection')
    await nextMessage(fixture, 'connection')
    fixture.send({ cmd: 'channels' })
    expect(await nextMessage(fixture, 'channels')).toMatchObject({ count: 2 })
    victim.child.kill('SIGKILL')
    await victim.exited
    expect(await nextMessage(fixture, 'disconnect')).toMatchObject({ count: 1 })
    expect(await survivor.rpc('add', 5, 5)).toBe(10)
  })
})

describe('closing', () => {
  test('calls after client.close() reject with ChannelClosedError', async () => {
    expect.assertions(5)
    const { path } = await startServer()
    const client = await connectClient(path)
    await client.close()
    expect(client.connected).toBe(false)
    const after = await outcome(client.rpc('add', 1, 2))
    expect(after.status).toBe('rejected')
    const reason = (after as { reason: ChannelClosedError }).reason
    expect(reason).toBeInstanceOf(ChannelClosedError)
    expect(reason.message).toMatchInlineSnapshot(`"cannot call "add": the channel is closed"`)
    expect(() => client.notify('record', 1)).toThrow(ChannelClosedError)
  })

  test('client.close() settles pending calls on both sides', async () => {
    expect.assertions(5)
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    let clientHandlerStarted!: () => void
    const started = new Promise<void>((resolve) => (clientHandlerStarted = resolve))
    client.expose('hang', () => {
      clientHandlerStarted()
      return new Promise(() => {})
    })
    const clientSide = outcome(client.rpc('hang', 'from-client'))
    await nextMessage(fixture, 'hanging')
    fixture.send({ cmd: 'call', name: 'hang', tag: 'from-server' })
    // Both calls are running on their remote side before the client closes.
    await within(2000, started, 'the server calling the client')
    expect(client.connected).toBe(true)
    await client.close()
    const local = await within(2000, clientSide, 'the client-side call')
    expect((local as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    const remote = await within(2000, nextMessage<Rejected>(fixture, 'call-rejected'), 'the server-side call')
    expect(remote.tag).toBe('from-server')
    expect(remote.error).toMatchObject({ name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED' })
    expect(await nextMessage(fixture, 'disconnect')).toMatchObject({ count: 0 })
  })

  test('server.close() in the server process settles pending calls on both sides and removes the socket file', async () => {
    expect.assertions(5)
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    let clientHandlerStarted!: () => void
    const started = new Promise<void>((resolve) => (clientHandlerStarted = resolve))
    client.expose('hang', () => {
      clientHandlerStarted()
      return new Promise(() => {})
    })
    const disconnected = new Promise<void>((resolve) => client.once('disconnect', () => resolve()))
    const clientSide = outcome(client.rpc('hang', 'from-client'))
    await nextMessage(fixture, 'hanging')
    fixture.send({ cmd: 'call', name: 'hang', tag: 'from-server' })
    await started
    fixture.send({ cmd: 'close' })
    const remote = await within(2000, nextMessage<Rejected>(fixture, 'call-rejected'), 'the server-side call')
    expect(remote.error).toMatchObject({ name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED' })
    const local = await within(2000, clientSide, 'the client-side call')
    expect((local as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    await within(2000, disconnected, 'disconnect')
    expect(client.connected).toBe(false)
    await nextMessage(fixture, 'closed')
    expect(existsSync(path)).toBe(false)
    expect(await fixture.exited).toBe(0)
  })

  test('a server in the test process closing settles the calls of a client process', async () => {
    const path = tempSocket()
    const server = await listenHere(path)
    server.expose({ hang: () => new Promise(() => {}), add: (a: number, b: number) => a + b })
    const connected = new Promise<Channel>((resolve) => server.once('connection', resolve))
    const child = spawnFixture('client.mjs', [path])
    const channel = await connected
    await nextMessage(child, 'ready')
    const serverSide = outcome(channel.rpc('hang', 'from-server'))
    await nextMessage(child, 'hanging')
    child.send({ cmd: 'call', name: 'hang', tag: 'from-client' })
    // The client's call has reached the server once a later round trip from the client completes.
    child.send({ cmd: 'call', name: 'add', args: [1, 1], tag: 'probe' })
    expect(await within(2000, nextMessage(child, 'call-result'), 'the probe')).toMatchObject({ tag: 'probe', value: 2 })
    await within(5000, server.close(), 'server.close()')
    const settled = await within(2000, serverSide, 'the server-side call')
    expect(settled.status).toBe('rejected')
    expect((settled as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    const rejected = await within(2000, nextMessage<Rejected>(child, 'call-rejected'), 'the client-side call')
    expect(rejected).toMatchObject({ tag: 'from-client', error: { name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED' } })
    expect(server.channels.size).toBe(0)
  })
})
