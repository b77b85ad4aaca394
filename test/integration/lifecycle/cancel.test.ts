/**
 * Call lifecycle, part 2: cancellation. `InProgress.abort(reason)` and an AbortSignal given to
 * `call(name, args, { signal })` reject the caller at once and fire the remote handler's signal with
 * the reason; a late result is dropped quietly; closing (or losing) a channel aborts every handler
 * still running on the other side. The remote side is observed directly: the fixture server reports
 * its signals over the fork IPC channel, and handlers in the test process resolve local promises.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { getEventListeners, once } from 'node:events'
import { writeFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { AbortError, ChannelClosedError, Client, type CallContext } from '../../../dist/index.js'
import { tempDir } from '../../helpers/processes.js'
import { rejection } from '../../helpers/outcome.js'
import { onWindows } from '../../helpers/platform.js'
import {
  lifecycleClient,
  nextMessage,
  recordMishaps,
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

interface CallRejected extends FixtureMessage {
  error: Described
}

/**
 * Starts `waitForAbort` on the fixture and waits until the handler runs. The call comes back wrapped:
 * an InProgress is a thenable, so an async function returning it would wait for its result.
 */
async function started(fixture: Parameters<typeof nextMessage>[0], client: Client, tag: string) {
  const call = client.rpc<string>('waitForAbort', tag)
  await within(5000, nextMessage(fixture, 'started', tag), `${tag} starting`)
  return { call }
}

/**
 * Handlers in the test process that run until their signal fires: `hold(tag)` resolves
 * `started(tag)` when it begins and `aborted(tag)` with the signal's reason.
 */
function holdHandlers(client: Client) {
  const starts = new Map<string, ReturnType<typeof signalled<void>>>()
  const aborts = new Map<string, ReturnType<typeof signalled<unknown>>>()
  const entry = <T>(map: Map<string, ReturnType<typeof signalled<T>>>, tag: string) => {
    if (!map.has(tag)) map.set(tag, signalled<T>())
    return map.get(tag)!
  }
  client.expose(
    'hold',
    (ctx: CallContext, tag: string) => {
      entry(starts, tag).resolve()
      return new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          entry(aborts, tag).resolve(ctx.signal.reason)
          resolve(`${tag} done`)
        })
      })
    },
    { context: true },
  )
  return {
    started: (tag: string) => within(5000, entry(starts, tag).promise, `hold(${tag}) starting`),
    aborted: (tag: string) => within(5000, entry(aborts, tag).promise, `hold(${tag}) seeing its signal fire`),
  }
}

describe('InProgress.abort(reason)', () => {
  const rangeError = Object.assign(new RangeError('stop now'), { code: 'E_STOP' })
  test.each<[string, unknown, Partial<Described>]>([
    ['a string', 'user cancelled', { kind: 'string', value: 'user cancelled' }],
    ['a number', 42, { kind: 'number', value: 42 }],
    ['a plain object', { why: 'navigated away', attempt: 2 }, { kind: 'object', value: { why: 'navigated away', attempt: 2 } }],
    ['an Error with a code', rangeError, { kind: 'error', name: 'RangeError', message: 'stop now', code: 'E_STOP', rangeError: true, remote: true }],
    ['no reason (the AbortError itself travels)', undefined, { kind: 'error', name: 'AbortError', code: 'ABORT_ERR', abortError: true }],
    // Not encodable: the remote signal still fires, with a SerializationError in place of the reason.
    ['a symbol', Symbol('not encodable'), { kind: 'error', name: 'SerializationError', code: 'ERR_SERIALIZATION', serializationError: true }],
  ])('reason %s: the caller rejects at once with AbortError, the remote signal fires with the reason', async (_, reason, remote) => {
    const { fixture, client } = await serverAndClient()
    const { call } = await started(fixture, client, 'job')
    call.abort(reason)
    // At once: settled before anything came back from the peer.
    expect(call.finished).toBe(true)
    expect(call.failed).toBe(true)
    const error = call.error as AbortError
    expect(error).toBeInstanceOf(AbortError)
    expect(error.code).toBe('ABORT_ERR')
    expect(error.message).toBe('call "waitForAbort" was aborted')
    if (reason === undefined) expect(Object.hasOwn(error, 'cause')).toBe(false)
    else expect(error.cause).toBe(reason)
    expect(await rejection(call)).toBe(error)
    const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'job'), 'the remote signal')
    expect(aborted.reason).toMatchObject(remote)
  })

  test('abort() right after the call: the handler still starts and sees its signal fire', async () => {
    const { fixture, client } = await serverAndClient()
    const call = client.rpc('waitForAbort', 'instant')
    call.abort('changed my mind')
    expect(call.error).toBeInstanceOf(AbortError)
    await within(5000, nextMessage(fixture, 'started', 'instant'), 'the handler starting')
    const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'instant'), 'the remote signal')
    expect(aborted.reason).toEqual({ kind: 'string', value: 'changed my mind' })
  })

  test('a result already on its way when abort() is called is dropped: no unhandled rejection, no error event, the channel keeps working', async () => {
    const { fixture, client } = await serverAndClient()
    const mishaps = recordMishaps(client)
    // `count` answers in the tick its call arrives, so the cancel (sent right behind the call) arrives
    // after the result has left: the result reaches a caller that has already given up.
    const call = client.rpc('count', 'late')
    call.abort('too late')
    const awaited = call.then(
      () => 'fulfilled',
      (error: unknown) => error,
    )
    expect(await within(5000, nextMessage(fixture, 'counted', 'late'), 'the handler running')).toMatchObject({ n: 1 })
    // Frames are ordered: once this round trip is back, the late result has arrived and been handled.
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    expect(await awaited).toBeInstanceOf(AbortError)
    expect(call.result).toBeUndefined()
    expect(call.error).toBeInstanceOf(AbortError)
    expect(mishaps.errors).toEqual([])
    expect(mishaps.unhandled).toEqual([])
    expect(client.connected).toBe(true)
    expect(await within(5000, client.rpc('count', 'late'), 'a later call')).toBe(2)
  })

  test('a handler that returns after its abort: its result is never delivered, and nothing else goes wrong', async () => {
    const { fixture, client } = await serverAndClient()
    const mishaps = recordMishaps(client)
    const { call } = await started(fixture, client, 'returns-anyway')
    call.abort()
    await within(5000, nextMessage(fixture, 'aborted', 'returns-anyway'), 'the remote signal')
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    expect(call.error).toBeInstanceOf(AbortError)
    expect(mishaps).toEqual({ errors: [], unhandled: [] })
  })

  test('a call aborted before the handshake completed is withdrawn: it is never sent', async () => {
    const { path } = await startLifecycleServer()
    const client = new Client(path)
    onTestFinished(() => client.destroy())
    // Queued: the client is still connecting.
    const call = client.rpc('count', 'queued')
    const kept = client.rpc('count', 'kept')
    call.abort('not needed any more')
    expect(call.error).toBeInstanceOf(AbortError)
    await within(5000, client.ready(), 'the handshake')
    expect(await within(5000, kept, 'the call that was kept')).toBe(1)
    expect(await within(5000, client.rpc('countOf', 'queued'), 'countOf')).toBe(0)
  })

  test('a call aborted while it waits for a handler slot (maxConcurrentCalls) never starts', async () => {
    const { fixture, client } = await serverAndClient({ maxConcurrentCalls: 1 })
    const { call: running } = await started(fixture, client, 'occupying')
    // The single slot is taken: this call waits on the server behind the running one.
    const waiting = client.rpc('count', 'waiting')
    // Its cancel arrives before the slot is freed. Had it been ignored, the freed slot would start it,
    // ahead of the countOf call below, which arrives later.
    waiting.abort('gave up waiting')
    running.abort('free the slot')
    await within(5000, nextMessage(fixture, 'aborted', 'occupying'), 'the running handler seeing its abort')
    expect(await within(5000, client.rpc('countOf', 'waiting'), 'countOf')).toBe(0)
    expect(waiting.error).toBeInstanceOf(AbortError)
  })

  test('aborting the call that holds the only handler slot (maxConcurrentCalls) frees it for the call waiting behind it', async () => {
    const { fixture, client } = await serverAndClient({ maxConcurrentCalls: 1 })
    const { call: running } = await started(fixture, client, 'holding')
    const waiting = client.rpc<number>('count', 'queued-behind')
    // Notifications do not wait for a slot: once this one is handled, the call before it has arrived.
    client.notify('count', 'marker')
    await within(5000, nextMessage(fixture, 'counted', 'marker'), 'the marker notification')
    expect(waiting.finished).toBe(false)
    running.abort('make room')
    expect(await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'holding'), 'the remote signal')).toMatchObject({
      reason: { kind: 'string', value: 'make room' },
    })
    expect(await within(5000, waiting, 'the waiting call')).toBe(1)
  })

  test('abort() after the call finished changes nothing', async () => {
    const { client } = await serverAndClient()
    const call = client.rpc('count', 'done')
    expect(await within(5000, call, 'count')).toBe(1)
    call.abort('too late to matter')
    expect(call.failed).toBe(false)
    expect(call.result).toBe(1)
    expect(await call).toBe(1)
  })
})

describe('an AbortSignal passed to call(name, args, { signal })', () => {
  test('an already-aborted signal rejects at once and sends nothing', async () => {
    const { client } = await serverAndClient()
    const controller = new AbortController()
    const reason = new Error('aborted before the call')
    controller.abort(reason)
    const call = client.call('count', ['never-sent'], { signal: controller.signal })
    expect(call.finished).toBe(true)
    expect(call.error).toBeInstanceOf(AbortError)
    expect((call.error as AbortError).code).toBe('ABORT_ERR')
    expect((call.error as AbortError).cause).toBe(reason)
    expect(await rejection(call)).toBe(call.error)
    // Calls are handled in order: had the first been sent, the handler would have counted it by now.
    expect(await within(5000, client.rpc('countOf', 'never-sent'), 'countOf')).toBe(0)
  })

  test('aborting the signal later rejects the call and fires the remote signal with its reason', async () => {
    const { fixture, client } = await serverAndClient()
    const controller = new AbortController()
    const call = client.call('waitForAbort', ['signalled'], { signal: controller.signal })
    await within(5000, nextMessage(fixture, 'started', 'signalled'), 'the handler starting')
    controller.abort('the user pressed stop')
    expect(call.finished).toBe(true)
    const error = (await rejection(call)) as AbortError
    expect(error).toBeInstanceOf(AbortError)
    expect(error.code).toBe('ABORT_ERR')
    expect(error.cause).toBe('the user pressed stop')
    const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'signalled'), 'the remote signal')
    expect(aborted.reason).toEqual({ kind: 'string', value: 'the user pressed stop' })
    // The call's listener left the signal when the call settled.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  test('one signal cancels several calls, each on the remote side', async () => {
    const { fixture, client } = await serverAndClient()
    const controller = new AbortController()
    const tags = ['one', 'two', 'three']
    const calls = tags.map((tag) => client.call('waitForAbort', [tag], { signal: controller.signal }))
    for (const tag of tags) await within(5000, nextMessage(fixture, 'started', tag), `${tag} starting`)
    controller.abort('all of them')
    for (const call of calls) expect(call.error).toBeInstanceOf(AbortError)
    const reasons = new Map<string, Described>()
    while (reasons.size < tags.length) {
      const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted'), 'the remote signals')
      reasons.set(aborted.tag!, aborted.reason)
    }
    for (const tag of tags) expect(reasons.get(tag)).toEqual({ kind: 'string', value: 'all of them' })
  })

  test('after the call completed, the signal has no listener left and aborting it changes nothing', async () => {
    const { client } = await serverAndClient()
    const mishaps = recordMishaps(client)
    const controller = new AbortController()
    const call = client.call('count', ['with-signal'], { signal: controller.signal })
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    expect(await within(5000, call, 'count')).toBe(1)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    controller.abort()
    expect(call.result).toBe(1)
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    expect(mishaps).toEqual({ errors: [], unhandled: [] })
  })
})

describe("closing the channel aborts every running handler's signal on the other side", () => {
  test("client.close(): the server's handlers see their signals fire with ChannelClosedError", async () => {
    const { fixture, client } = await serverAndClient()
    const tags = ['a', 'b', 'c']
    const calls = []
    for (const tag of tags) calls.push(rejection((await started(fixture, client, tag)).call))
    await within(5000, client.close(), 'client.close()')
    for (const call of calls) expect(await call).toBeInstanceOf(ChannelClosedError)
    const seen = new Map<string, Described>()
    while (seen.size < tags.length) {
      const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted'), 'the remote signals')
      seen.set(aborted.tag!, aborted.reason)
    }
    for (const tag of tags) {
      expect(seen.get(tag)).toMatchObject({ kind: 'error', name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED', channelClosedError: true })
    }
  })

  test('a call and a notification sent right after connecting, then close(): the server still runs them', async () => {
    // The server is made to read the client's first frames and its FIN late and together (it stalls
    // right after accepting, having sent its own hello), as a busy server would. Where that falls
    // against the server's own handshake steps is still a matter of timing, hence several connections.
    const go = join(tempDir(), 'go')
    const { fixture, path } = await startLifecycleServer({ stallAfterAccept: go })
    // The client's socket, to know when its FIN has gone out.
    const sockets: Socket[] = []
    const onSocket = (message: unknown): void => {
      sockets.push((message as { socket: Socket }).socket)
    }
    subscribe('net.client.socket', onSocket)
    onTestFinished(() => {
      unsubscribe('net.client.socket', onSocket)
    })
    const attempts = 3
    for (let i = 0; i < attempts; i++) {
      // Only this side's handshake is awaited: the server may not have handled the client's hello yet.
      const client = await lifecycleClient(path)
      expect(sockets).toHaveLength(i + 1)
      const finished = once(sockets[i], 'finish')
      client.notify('count', `notified-${i}`)
      const call = rejection(client.rpc('waitForAbort', `called-${i}`))
      const closing = client.close()
      // 'finish': the frames are written and the write side is shut down; then the server may go on.
      // On Windows a pipe's shutdown (libuv's FlushFileBuffers) ends only once the server has read
      // everything: there the server goes on first.
      if (onWindows) writeFileSync(`${go}.${i}`, '')
      await within(5000, finished, "the client socket's FIN")
      if (!onWindows) writeFileSync(`${go}.${i}`, '')
      await within(5000, closing, 'client.close()')
      expect(await call).toBeInstanceOf(ChannelClosedError)
      // Both frames went out before the goodbye: the server handles them, then aborts the running handler.
      expect(await within(5000, nextMessage(fixture, 'counted', `notified-${i}`), `notification ${i}`)).toMatchObject({ n: 1 })
      await within(5000, nextMessage(fixture, 'started', `called-${i}`), `call ${i} starting`)
      expect(await within(5000, nextMessage<Aborted>(fixture, 'aborted', `called-${i}`), `the signal of call ${i}`)).toMatchObject({
        reason: { name: 'ChannelClosedError', channelClosedError: true },
      })
    }
  })

  test("server.close() in the server process: the client's handlers see their signals fire", async () => {
    let hold!: ReturnType<typeof holdHandlers>
    const { fixture } = await serverAndClient({}, undefined, (c) => (hold = holdHandlers(c)))
    for (const tag of ['x', 'y']) {
      fixture.send({ cmd: 'call', tag, name: 'hold', args: [tag] })
      await hold.started(tag)
    }
    fixture.send({ cmd: 'close', tag: 'close' })
    for (const tag of ['x', 'y']) {
      const reason = await hold.aborted(tag)
      expect(reason).toBeInstanceOf(ChannelClosedError)
      expect((reason as ChannelClosedError).code).toBe('ERR_CHANNEL_CLOSED')
    }
    // The server's own calls settled too.
    for (const tag of ['x', 'y']) {
      expect(await within(5000, nextMessage<CallRejected>(fixture, 'call-rejected', tag), `the call ${tag}`)).toMatchObject({
        error: { name: 'ChannelClosedError', channelClosedError: true },
      })
    }
  })

  test("the calling process killed with SIGKILL: the client's handlers see their signals fire", async () => {
    let hold!: ReturnType<typeof holdHandlers>
    const { fixture, client } = await serverAndClient({}, undefined, (c) => (hold = holdHandlers(c)))
    const disconnected = new Promise<void>((resolve) => client.once('disconnect', () => resolve()))
    for (const tag of ['p', 'q']) {
      fixture.send({ cmd: 'call', tag, name: 'hold', args: [tag] })
      await hold.started(tag)
    }
    fixture.child.kill('SIGKILL')
    expect(await within(5000, fixture.exited, 'the fixture exiting')).toBe('SIGKILL')
    for (const tag of ['p', 'q']) expect(await hold.aborted(tag)).toBeInstanceOf(ChannelClosedError)
    await within(5000, disconnected, 'disconnect')
  })
})
