/**
 * Call lifecycle, part 1: handlers that take a CallContext, in every form `expose` offers, and progress
 * reports. The server runs in a fixture process (test/fixtures/lifecycle-server.mjs), the client in the
 * test; for the decorator form the fixture calls a class instance exposed by the client.
 */
import { describe, expect, test } from 'vitest'
import { AbortError, Client, expose, type CallContext } from '../../../dist/index.js'
import { nextMessage, serverAndClient, signalled, within, type Described, type FixtureMessage } from './support.js'

interface CallResult extends FixtureMessage {
  value: unknown
  events: { progress: unknown }[]
}

interface CallRejected extends FixtureMessage {
  error: Described
  events: { progress: unknown }[]
}

interface FixtureApi {
  inspect(ctx: CallContext, ...args: unknown[]): Record<string, unknown>
  callBack(ctx: CallContext, name: string, ...args: unknown[]): Promise<unknown>
  progressThenResult(ctx: CallContext, count: number): Promise<{ done: number }>
}

/** Exposed by the client with `expose(instance)`; the fixture server calls it. */
class ClientApi {
  readonly #channel: () => Client
  readonly aborted = signalled<unknown>()

  constructor(channel: () => Client) {
    this.#channel = channel
  }

  @expose({ context: true })
  async describeCall(ctx: CallContext, value: number) {
    ctx.progress('working')
    // The context's channel calls the caller back while the call is running.
    const pong = await ctx.channel.rpc('ping')
    return { value, pong, sameChannel: ctx.channel === this.#channel(), aborted: ctx.signal.aborted }
  }

  @expose('waitHere', { context: true })
  waitForAbort(ctx: CallContext, tag: string): Promise<string> {
    ctx.progress(`${tag} is running`)
    return new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => {
        this.aborted.resolve(ctx.signal.reason)
        resolve('nobody receives this')
      })
    })
  }

  @expose()
  plain(...args: unknown[]) {
    return { args, thisIsInstance: this instanceof ClientApi }
  }
}

describe('context handlers', () => {
  test('expose(name, fn, { context: true }) passes a CallContext before the arguments', async () => {
    const { client } = await serverAndClient()
    expect(await within(5000, client.rpc('inspect', 1, 'two', { three: 3 }), 'inspect')).toEqual({
      args: [1, 'two', { three: 3 }],
      channelIsChannel: true,
      channelIsThisConnection: true,
      signalIsAbortSignal: true,
      aborted: false,
      progressIsFunction: true,
    })
  })

  test('expose(object, { context: true }): ctx.channel calls the caller back during the call', async () => {
    const { client } = await serverAndClient({}, undefined, (c) => {
      c.expose('whoami', (arg: string) => ({ pid: process.pid, arg }))
    })
    expect(await within(5000, client.rpc('callBack', 'whoami', 'asked by the server'), 'callBack')).toEqual({
      pid: process.pid,
      arg: 'asked by the server',
    })
    // The typed proxy drops the leading CallContext parameter.
    const api = client.remote<FixtureApi>()
    expect(await within(5000, api.callBack('whoami', 'typed'), 'typed callBack')).toEqual({ pid: process.pid, arg: 'typed' })
  })

  test('@expose({ context: true }) on a class method: context, progress and a call back to the caller', async () => {
    let channel: Client | undefined
    const { fixture } = await serverAndClient({}, undefined, (c) => {
      channel = c
      c.expose(new ClientApi(() => channel!))
    })
    fixture.send({ cmd: 'call', tag: 'decorated', name: 'describeCall', args: [7] })
    const result = await within(5000, nextMessage<CallResult>(fixture, 'call-result', 'decorated'), 'the decorated call')
    expect(result.value).toEqual({ value: 7, pong: 'pong', sameChannel: true, aborted: false })
    expect(result.events).toEqual([{ progress: 'working' }])

    // @expose() without options: no context, just the arguments, with the instance as `this`.
    fixture.send({ cmd: 'call', tag: 'plain', name: 'plain', args: [1, 2] })
    const plain = await within(5000, nextMessage<CallResult>(fixture, 'call-result', 'plain'), 'the plain call')
    expect(plain.value).toEqual({ args: [1, 2], thisIsInstance: true })
  })

  test("@expose('name', { context: true }): the caller's abort fires the handler's signal with its reason", async () => {
    let channel: Client | undefined
    const api = new ClientApi(() => channel!)
    const { fixture } = await serverAndClient({}, undefined, (c) => {
      channel = c
      c.expose(api)
    })
    // The fixture aborts the call as soon as the first progress value arrives.
    fixture.send({ cmd: 'call', tag: 'aborted', name: 'waitHere', args: ['job'], abortOnProgress: 'the server gave up' })
    const rejected = await within(5000, nextMessage<CallRejected>(fixture, 'call-rejected', 'aborted'), 'the aborted call')
    expect(rejected.error).toMatchObject({
      name: 'AbortError',
      code: 'ABORT_ERR',
      abortError: true,
      cause: { kind: 'string', value: 'the server gave up' },
    })
    expect(rejected.events).toEqual([{ progress: 'job is running' }])
    expect(await within(5000, api.aborted.promise, 'the local signal')).toBe('the server gave up')
  })
})

describe('progress', () => {
  test('ctx.progress values reach every onProgress listener in order, all before the result', async () => {
    const { client } = await serverAndClient()
    const events: unknown[] = []
    const second: unknown[] = []
    const call = client.rpc<{ done: number }>('progressThenResult', 50)
    // onProgress returns the call itself, for chaining.
    expect(call.onProgress((value) => events.push(value)).onProgress((value) => second.push(value))).toBe(call)
    const result = await within(
      5000,
      call.then((value) => (events.push({ result: value }), value)),
      'progressThenResult',
    )
    expect(result).toEqual({ done: 50 })
    const expected = Array.from({ length: 50 }, (_, step) => ({ step, of: 50 }))
    expect(events).toEqual([...expected, { result: { done: 50 } }])
    expect(second).toEqual(expected)
  })

  test('a listener attached through the typed proxy sees the same values', async () => {
    const { client } = await serverAndClient()
    const seen: number[] = []
    const result = await within(
      5000,
      client
        .remote<FixtureApi>()
        .progressThenResult(10)
        .onProgress((value) => seen.push((value as { step: number }).step)),
      'progressThenResult',
    )
    expect(result).toEqual({ done: 10 })
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  test('an aborted call stops delivering progress and rejects with AbortError', async () => {
    const { client } = await serverAndClient()
    const seen: unknown[] = []
    const call = client.rpc('progressThenResult', 1000)
    void call.onProgress((value) => {
      seen.push(value)
      if (seen.length === 3) call.abort('enough')
    })
    const error = await within(
      5000,
      call.then(
        () => undefined,
        (reason: unknown) => reason,
      ),
      'the aborted call',
    )
    expect(error).toBeInstanceOf(AbortError)
    // A round trip: progress frames sent before the server saw the cancel have arrived by now.
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    expect(seen).toHaveLength(3)
  })
})
