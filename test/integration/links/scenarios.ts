/**
 * The scenarios every link runs (stdio, spawnChild, worker_threads, message ports, TCP, TLS): calls in
 * both directions, a remote error rethrown, and every way of closing settling pending calls with
 * ChannelClosedError. The peer exposes test/fixtures/link-api.mjs.
 */
import { expect, test } from 'vitest'
import { ChannelClosedError, RemoteError, type Channel, type Stub } from '../../../dist/index.js'
import { outcome } from '../../helpers/outcome.js'
import { within } from '../support.js'

/** Bound on any single wait in these scenarios. */
export const DEADLINE_MS = 5000

export { within }

/** Opens a connected (or connecting) local end whose peer exposes the link API; cleans up after the test. */
export type OpenLink = () => Promise<Channel>

/** Declares the common scenarios for one link. */
export function coreScenarios(open: OpenLink): void {
  test('calls the peer', async () => {
    const channel = await open()
    expect(await within(DEADLINE_MS, channel.rpc('add', 2, 3), 'add')).toBe(5)
    const bytes = new Uint8Array([0, 1, 2, 255])
    expect(await within(DEADLINE_MS, channel.rpc('echo', { bytes, when: new Date(0), big: 2n ** 70n }), 'echo')).toEqual({
      bytes,
      when: new Date(0),
      big: 2n ** 70n,
    })
  })

  test('the peer calls this side back', async () => {
    const channel = await open()
    channel.expose('double', (x: number) => x * 2)
    expect(await within(DEADLINE_MS, channel.rpc('callBack', 'double', 21), 'callBack')).toBe(42)
  })

  test('a remote error is rethrown with its class, code and cause', async () => {
    const channel = await open()
    const result = await within(DEADLINE_MS, outcome(channel.rpc('fail', 'x')), 'fail')
    expect(result.status).toBe('rejected')
    const error = (result as { reason: Error & { code?: string } }).reason
    expect(error).toBeInstanceOf(TypeError)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.message).toBe('bad input: x')
    expect(error.code).toBe('E_LINK')
    expect(error.cause).toBeInstanceOf(RangeError)
  })

  test('references cross the link: a callback, functions in a result, an AbortSignal, and identity', async () => {
    const channel = await open()
    const seen: number[] = []
    const callback = (i: number): number => (seen.push(i), i * 10)
    expect(await within(DEADLINE_MS, channel.rpc('callEach', callback, 3), 'callEach')).toBe(30)
    expect(seen).toEqual([0, 1, 2])
    const counter = (await within(DEADLINE_MS, channel.rpc('counter'), 'counter')) as { add: Stub<(n: number) => number> }
    expect(await within(DEADLINE_MS, counter.add(2), 'add')).toBe(2)
    expect(await within(DEADLINE_MS, channel.rpc('echo', callback), 'echo')).toBe(callback)
    const controller = new AbortController()
    const aborted = channel.rpc('waitAbort', controller.signal)
    await within(DEADLINE_MS, channel.rpc('add', 0, 0), 'add')
    controller.abort(new Error('stop'))
    expect(await within(DEADLINE_MS, aborted, 'waitAbort')).toBe('stop')
  })

  test('close() settles pending calls with ChannelClosedError', async () => {
    const channel = await open()
    const pending = outcome(channel.rpc('hang'))
    // A round trip behind it: the hanging call has reached the peer.
    await within(DEADLINE_MS, channel.rpc('add', 1, 1), 'add')
    await within(DEADLINE_MS, channel.close(), 'close')
    const result = await within(DEADLINE_MS, pending, 'the pending call')
    expect(result.status).toBe('rejected')
    expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    expect(channel.connected).toBe(false)
  })

  test('the peer closing settles pending calls with ChannelClosedError', async () => {
    const channel = await open()
    const disconnected = new Promise<void>((resolve) => channel.once('disconnect', () => resolve()))
    const pending = channel.rpc('hang')
    expect(await within(DEADLINE_MS, channel.rpc('closeSoon'), 'closeSoon')).toBe(true)
    const result = await within(DEADLINE_MS, outcome(pending), 'the pending call')
    expect(result.status).toBe('rejected')
    expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    await within(DEADLINE_MS, disconnected, 'disconnect')
  })
}

/** Resolves once `channel` has connected; rejects with its `error` event or its disconnect. */
export function connected(channel: Channel): Promise<Channel> {
  if (channel.connected) return Promise.resolve(channel)
  return within(
    DEADLINE_MS,
    new Promise<Channel>((resolve, reject) => {
      channel.once('connect', () => resolve(channel))
      channel.once('error', reject)
      channel.once('disconnect', (reason) => reject(reason ?? new Error('disconnected before connecting')))
    }),
    'the handshake',
  )
}
