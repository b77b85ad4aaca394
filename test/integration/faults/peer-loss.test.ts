/**
 * Fault tests: losing the peer. A server process killed with 1,000 calls in flight, a server restarted
 * under reconnecting clients (stale socket file), a client giving up after maxAttempts, a wrong secret
 * that is final, and a stopped (SIGSTOP) peer found out by the heartbeat.
 */
import { describe, expect, onTestFinished, test } from 'vitest'
import { AuthenticationError, ChannelClosedError, Client, TimeoutError, type ClientOptions, type InProgress } from '../../../dist/index.js'
import type { Report } from '../../helpers/mailbox.js'
import { outcome } from '../../helpers/outcome.js'
import { named, onWindows } from '../../helpers/platform.js'
import { signal, startFaultServer, within } from './support.js'

/** A Client of the test process, destroyed after the test. */
function newClient(path: string, options?: ClientOptions): Client {
  const client = new Client(path, options)
  client.on('error', () => {})
  onTestFinished(() => client.destroy())
  return client
}

/** Resolves with the arguments of the next `event` of `client`. */
function next<T = unknown>(client: Client, event: 'connect' | 'disconnect' | 'reconnecting'): Promise<T> {
  return new Promise((resolve) => client.once(event, ((value: T) => resolve(value)) as never))
}

describe('a server process killed with SIGKILL', () => {
  test('1,000 calls in flight all reject with ChannelClosedError within a second of the kill', async () => {
    const server = await startFaultServer()
    const client = newClient(server.path)
    await client.ready()
    const calls: InProgress<unknown>[] = []
    for (let i = 0; i < 1000; i++) calls.push(client.rpc('park', 1000))
    // Every call has reached a handler on the server: they are really in flight, not queued.
    expect(await server.mail.take('parked')).toMatchObject({ count: 1000 })
    const settled = Promise.all(calls.map((call) => outcome(call)))
    const killedAt = Date.now()
    server.fixture.child.kill('SIGKILL')
    const outcomes = await within(3000, settled, 'settling 1,000 calls')
    const elapsed = Date.now() - killedAt
    expect(elapsed).toBeLessThan(1000)
    const closed = outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof ChannelClosedError)
    expect(closed.length).toBe(1000)
    expect(await server.fixture.exited).toBe('SIGKILL')
    expect(client.connected).toBe(false)
  })
})

describe('a server restarted under a reconnecting client', () => {
  test('the client reconnects to the new process; in-flight calls reject and are never re-sent, queued calls are answered', async () => {
    const first = await startFaultServer()
    const client = newClient(first.path, { reconnect: true })
    client.expose({ clientEcho: (value: unknown) => ({ echoed: value, from: 'client' }) })
    const events: string[] = []
    client.on('connect', () => events.push('connect'))
    client.on('disconnect', () => events.push('disconnect'))
    client.on('reconnecting', () => events.push('reconnecting'))
    await client.ready()
    expect(await client.rpc('add', 1, 2)).toBe(3)

    // Five calls reach the first server and hang there.
    const inFlight = Array.from({ length: 5 }, (_, i) => client.rpc('hold', `first-${i}`))
    for (let i = 0; i < 5; i++) await first.mail.take('held')
    const inFlightOutcomes = Promise.all(inFlight.map((call) => outcome(call)))

    const disconnected = next<Error | undefined>(client, 'disconnect')
    const reconnecting = next<{ attempt: number; delay: number }>(client, 'reconnecting')
    first.fixture.child.kill('SIGKILL')
    await first.fixture.exited
    await within(2000, disconnected, 'disconnect')
    for (const result of await within(2000, inFlightOutcomes, 'in-flight calls')) {
      expect(result.status).toBe('rejected')
      expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    }
    expect((await within(2000, reconnecting, 'reconnecting')).attempt).toBe(1)

    // Made while disconnected: queued, sent once after the reconnect.
    expect(client.connected).toBe(false)
    const queued = [client.rpc('count'), client.rpc('count'), client.rpc('count'), client.rpc('add', 20, 22)]

    // The stale socket file of the killed server is still there; the new server takes it over.
    const connected = next(client, 'connect')
    const second = await startFaultServer({}, first.path)
    await within(10_000, connected, 'the reconnect')
    expect(await within(5000, Promise.all(queued), 'the queued calls')).toEqual([1, 2, 3, 42])
    expect(await client.ready()).toBeUndefined()

    // Both directions work on the new connection.
    expect(await client.rpc('add', 2, 2)).toBe(4)
    const back = await second.mail.ask<Report & { results: unknown[] }>({ cmd: 'callAll', name: 'clientEcho', args: ['hi'] }, 'callAll')
    expect(back.results).toEqual([{ value: { echoed: 'hi', from: 'client' } }])

    // The new server never saw the calls that were in flight at the kill, and saw each queued call once.
    const { stats } = await second.stats()
    expect(stats.held).toBe(0)
    expect(stats.counted).toBe(3)
    expect(stats.connections).toBe(1)
    expect(events[0]).toBe('connect')
    expect(events.slice(1, 3)).toEqual(['disconnect', 'reconnecting'])
    expect(events.at(-1)).toBe('connect')
    expect(events.filter((e) => e === 'connect')).toHaveLength(2)
  })

  test('a server that closes gracefully (a restart) is reconnected to as well', async () => {
    const first = await startFaultServer()
    const client = newClient(first.path, { reconnect: { initialDelay: 20 } })
    client.expose({ clientEcho: (value: unknown) => ({ echoed: value, from: 'client' }) })
    await client.ready()
    const disconnected = next<Error | undefined>(client, 'disconnect')
    const reconnecting = next<{ attempt: number; delay: number }>(client, 'reconnecting')
    // The server says goodbye and removes its socket file; the client must not take that as final.
    await first.mail.ask({ cmd: 'close' }, 'closed')
    await within(2000, disconnected, 'disconnect')
    expect((await within(2000, reconnecting, 'reconnecting')).attempt).toBe(1)
    const queued = client.rpc('add', 40, 2)
    const connected = next(client, 'connect')
    const second = await startFaultServer({}, first.path)
    await within(10_000, connected, 'the reconnect')
    expect(await within(5000, queued, 'the queued call')).toBe(42)
    const back = await second.mail.ask<Report & { results: unknown[] }>({ cmd: 'callAll', name: 'clientEcho', args: ['again'] }, 'callAll')
    expect(back.results).toEqual([{ value: { echoed: 'again', from: 'client' } }])
  })

  test('maxAttempts exhausted: queued calls reject with ChannelClosedError and ready() rejects', async () => {
    const server = await startFaultServer()
    const client = newClient(server.path, { reconnect: { initialDelay: 10, maxDelay: 40, maxAttempts: 3 } })
    await client.ready()
    const attempts: number[] = []
    client.on('reconnecting', ({ attempt }) => attempts.push(attempt))
    const disconnected = next(client, 'disconnect')
    server.fixture.child.kill('SIGKILL')
    await within(2000, disconnected, 'disconnect')
    const ready = outcome(client.ready())
    const queued = [client.rpc('add', 1, 1), client.rpc('count')].map((call) => outcome(call))
    const results = await within(5000, Promise.all(queued), 'the queued calls')
    for (const result of results) {
      expect(result.status).toBe('rejected')
      expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    }
    const readiness = await within(1000, ready, 'ready()')
    expect(readiness.status).toBe('rejected')
    expect(attempts).toEqual([1, 2, 3])
    // The client has given up for good: a new call is refused at once, nothing is queued any more.
    const after = client.rpc('add', 1, 1)
    expect(after.failed).toBe(true)
    expect(after.error).toBeInstanceOf(ChannelClosedError)
  })

  test('a wrong secret is final: ready() rejects with AuthenticationError and no reconnect is scheduled', async () => {
    const server = await startFaultServer({ secret: 'right' })
    const client = newClient(server.path, { secret: 'wrong', reconnect: { initialDelay: 5, maxDelay: 10 } })
    let reconnecting = 0
    client.on('reconnecting', () => reconnecting++)
    const queued = outcome(client.rpc('add', 1, 1))
    const readiness = await within(2000, outcome(client.ready()), 'ready()')
    expect(readiness.status).toBe('rejected')
    expect((readiness as { reason: unknown }).reason).toBeInstanceOf(AuthenticationError)
    const call = await within(1000, queued, 'the queued call')
    expect((call as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    // Ended, not waiting for a retry: a call now fails at once instead of being queued.
    expect(client.rpc('add', 1, 1).failed).toBe(true)
    // The server saw exactly one failed handshake. A retry would come within 10 ms; give it 20 times that.
    expect(await server.mail.take('server-error')).toMatchObject({ name: 'AuthenticationError' })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(reconnecting).toBe(0)
    expect(server.mail.all('server-error')).toHaveLength(1)
  })
})

describe('a stopped peer', () => {
  const sigstop = 'SIGSTOP: the heartbeat closes the channel and pending calls reject with ChannelClosedError caused by TimeoutError'
  test.skipIf(onWindows)(named(sigstop, onWindows, 'Windows has no SIGSTOP'), async () => {
    const server = await startFaultServer()
    // SIGCONT before the helper's SIGKILL (and harmless if the process is gone).
    onTestFinished(() => signal(server.fixture.child.pid, 'SIGCONT'))
    const client = newClient(server.path, { heartbeat: { interval: 100, timeout: 500 } })
    await client.ready()
    expect(await client.rpc('add', 1, 1)).toBe(2)
    const held = client.rpc('hold', 'before-stop')
    await server.mail.take('held')
    const disconnected = next<Error | undefined>(client, 'disconnect')
    server.fixture.child.kill('SIGSTOP')
    const stoppedAt = Date.now()
    // Sent to a stopped process: it sits in the socket buffer, never answered.
    const unanswered = client.rpc('add', 2, 2)
    const [first, second] = await within(3000, Promise.all([outcome(held), outcome(unanswered)]), 'the heartbeat')
    const elapsed = Date.now() - stoppedAt
    for (const result of [first, second]) {
      expect(result.status).toBe('rejected')
      const reason = (result as { reason: ChannelClosedError }).reason
      expect(reason).toBeInstanceOf(ChannelClosedError)
      expect(reason.cause).toBeInstanceOf(TimeoutError)
    }
    expect(await within(1000, disconnected, 'disconnect')).toBeInstanceOf(TimeoutError)
    // Detected after the timeout (500 ms) and within a few intervals of it.
    expect(elapsed).toBeGreaterThanOrEqual(300)
    expect(elapsed).toBeLessThan(2000)
    expect(client.connected).toBe(false)
  })
})
