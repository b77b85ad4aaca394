/**
 * Call lifecycle, part 3: deadlines. `InProgress.timeout(ms)`, `call(..., { timeout })` and the
 * `callTimeout` option reject with TimeoutError (ERR_TIMEOUT) and cancel the remote handler, whose
 * signal fires with the TimeoutError; and a client process that used deadlines leaves no timer behind:
 * after closing its channels it exits by itself.
 */
import { describe, expect, onTestFinished, test } from 'vitest'
import { TimeoutError, listen, type CallContext } from '../../../dist/index.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { rejection } from '../../helpers/outcome.js'
import {
  lifecycleClient,
  nextMessage,
  serverAndClient,
  signalled,
  startLifecycleServer,
  within,
  type Described,
  type FixtureMessage,
} from './support.js'

interface Aborted extends FixtureMessage {
  reason: Described
}

const remoteTimeout = { kind: 'error', name: 'TimeoutError', code: 'ERR_TIMEOUT', timeoutError: true }

describe('timeouts', () => {
  test('timeout(ms) returns the call, rejects it with TimeoutError and fires the remote signal with it', async () => {
    const { fixture, client } = await serverAndClient()
    const call = client.rpc('waitForAbort', 'deadline')
    expect(call.timeout(100)).toBe(call)
    await within(5000, nextMessage(fixture, 'started', 'deadline'), 'the handler starting')
    const error = (await within(5000, rejection(call), 'the deadline')) as TimeoutError
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.code).toBe('ERR_TIMEOUT')
    expect(error.message).toBe('call "waitForAbort" timed out after 100 ms')
    expect(call.error).toBe(error)
    const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'deadline'), 'the remote signal')
    expect(aborted.reason).toMatchObject({ ...remoteTimeout, message: 'call "waitForAbort" timed out after 100 ms' })
  })

  test('call(name, args, { timeout }) does the same', async () => {
    const { fixture, client } = await serverAndClient()
    const call = client.call('waitForAbort', ['option'], { timeout: 80 })
    const error = await within(5000, rejection(call), 'the deadline')
    expect(error).toBeInstanceOf(TimeoutError)
    expect(await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'option'), 'the remote signal')).toMatchObject({ reason: remoteTimeout })
  })

  test('a later timeout(ms) replaces the earlier deadline', async () => {
    const { fixture, client } = await serverAndClient()
    const call = client.rpc('waitForAbort', 'replaced').timeout(60_000).timeout(80)
    const error = (await within(5000, rejection(call), 'the second deadline')) as TimeoutError
    expect(error.message).toBe('call "waitForAbort" timed out after 80 ms')
    await within(5000, nextMessage(fixture, 'aborted', 'replaced'), 'the remote signal')
  })

  test('the callTimeout option applies to every call of the client, and timeout(ms) overrides it per call', async () => {
    const { fixture, client } = await serverAndClient({}, { callTimeout: 150 })
    // Made first, with a longer deadline of its own; under callTimeout its timer would fire first.
    const long = client.rpc('waitForAbort', 'long').timeout(60_000)
    const probe = client.rpc('waitForAbort', 'probe')
    const error = (await within(5000, rejection(probe), 'callTimeout')) as TimeoutError
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.code).toBe('ERR_TIMEOUT')
    expect(error.message).toBe('call "waitForAbort" timed out after 150 ms')
    expect(await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'probe'), 'the remote signal')).toMatchObject({ reason: remoteTimeout })
    expect(long.finished).toBe(false)
    // Calls that answer in time are not affected.
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    long.abort()
  })

  test("the server's callTimeout cancels its calls to the client: the client's handler sees TimeoutError", async () => {
    const handlerSignal = signalled<unknown>()
    const { path, fixture } = await startLifecycleServer({ callTimeout: 100 })
    await lifecycleClient(path, undefined, (client) => {
      client.expose(
        'hold',
        (ctx: CallContext) =>
          new Promise((resolve) => {
            ctx.signal.addEventListener('abort', () => {
              handlerSignal.resolve(ctx.signal.reason)
              resolve('late')
            })
          }),
        { context: true },
      )
    })
    await nextMessage(fixture, 'connection')
    fixture.send({ cmd: 'call', tag: 'server-deadline', name: 'hold' })
    expect(await within(5000, nextMessage(fixture, 'call-rejected', 'server-deadline'), 'the server-side call')).toMatchObject({
      error: { name: 'TimeoutError', code: 'ERR_TIMEOUT', timeoutError: true },
    })
    const reason = await within(5000, handlerSignal.promise, 'the client-side signal')
    expect(reason).toBeInstanceOf(TimeoutError)
    expect((reason as TimeoutError).code).toBe('ERR_TIMEOUT')
  })
})

interface TimersDone extends FixtureMessage {
  results: Record<string, { ok: boolean; value?: unknown; name?: string; code?: string; timeoutError?: boolean }>
  liveTimers: string[]
  resources: string[]
}

describe('no timers left behind', () => {
  test('a client process that made calls with deadlines (met and missed) closes its channels and exits by itself', async () => {
    const path = tempSocket()
    const server = await listen(path)
    onTestFinished(() => server.close())
    const cancelled = new Map<string, unknown>()
    const allCancelled = signalled()
    server.expose('quick', (value: unknown) => value)
    server.expose(
      'hold',
      (ctx: CallContext, tag: string) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            cancelled.set(tag, ctx.signal.reason)
            if (cancelled.size === 3) allCancelled.resolve()
            resolve('late')
          })
        }),
      { context: true },
    )
    const child = spawnFixture('lifecycle-timers.mjs', [path])
    const done = await within(10_000, nextMessage<TimersDone>(child, 'done'), 'the client process making its calls')
    const timedOut = { ok: false, name: 'TimeoutError', code: 'ERR_TIMEOUT', timeoutError: true }
    expect(done.results).toMatchObject({
      inTime: { ok: true, value: 1 },
      inTimeCallOption: { ok: true, value: 2 },
      inTimeCallTimeout: { ok: true, value: 3 },
      inTimeParallel: { ok: true, value: Array.from({ length: 20 }, (_, i) => i) },
      timedOut,
      timedOutCallOption: timedOut,
      timedOutCallTimeout: timedOut,
    })
    // Every timer made in the child (deadlines, heartbeat, handshake, close grace) was cleared or fired.
    expect(done.liveTimers).toEqual([])
    expect(done.resources).not.toContain('Timeout')
    // Bounded well below the 5 s heartbeat interval and the 30 s deadlines that were met.
    expect(await within(3000, child.exited, 'the client process exiting by itself')).toBe(0)
    // And the server's handlers of the calls that timed out were cancelled, with the TimeoutError.
    await within(5000, allCancelled.promise, 'the server-side signals')
    expect([...cancelled.keys()].sort()).toEqual(['call-timeout', 'callTimeout', 'timeout()'])
    for (const reason of cancelled.values()) expect(reason).toBeInstanceOf(TimeoutError)
  })
})
