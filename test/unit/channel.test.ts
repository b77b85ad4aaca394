import pDefer from 'p-defer'
import { describe, expect, onTestFinished, test, vi } from 'vitest'
import {
  AbortError,
  AuthenticationError,
  Channel,
  ChannelClosedError,
  InProgress,
  MethodNotFoundError,
  ProtocolError,
  RemoteError,
  TimeoutError,
  expose,
  type CallContext,
  type ChannelOptions,
} from '../../src/index.js'
import { Codec } from '../../src/protocol/codec.js'
import { MAGIC, MessageType, PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { attachTransport } from '../../src/core/channel.js'
import { memoryPair } from '../helpers/memory-transport.js'
import { rejection } from '../helpers/outcome.js'
import { channelPair, connectedPair } from '../helpers/pairs.js'

/**
 * A channel whose peer is driven by hand: `send` encodes a message as the peer would, `inject` delivers
 * raw bytes, and `received` collects what the channel sent.
 */
function channelWithRawPeer(options: ChannelOptions = {}, role: 'server' | 'client' = 'server') {
  const [own, peer] = memoryPair()
  const channel = new Channel({ heartbeat: false, ...options })
  onTestFinished(async () => {
    await channel.destroy()
  })
  const codec = new Codec()
  const received: unknown[][] = []
  const peerClosed = pDefer<void>()
  peer.start({
    message: (payload) => received.push(codec.decode(payload as Uint8Array) as unknown[]),
    closed: () => peerClosed.resolve(),
    drain: () => {},
  })
  const attached = attachTransport(channel, own, role)
  attached.catch(() => {})
  return {
    channel,
    attached,
    received,
    peerClosed: peerClosed.promise,
    send: (message: unknown[]) => peer.inject(codec.encode(message as never)),
    inject: (bytes: Uint8Array) => peer.inject(bytes),
  }
}

/** Resolves with the arguments of the next `event`. */
function next<E extends 'connect' | 'disconnect' | 'error'>(channel: Channel, event: E): Promise<unknown[]> {
  return new Promise((resolve) => channel.once(event, (...args: unknown[]) => resolve(args)))
}

/** Delivers everything in flight by completing one round trip in each direction. */
async function roundTrip(a: Channel, b: Channel): Promise<void> {
  a.expose('__sync', () => true)
  b.expose('__sync', () => true)
  await Promise.all([a.rpc('__sync'), b.rpc('__sync')])
}

describe('expose', () => {
  test('a named function, under its name', async () => {
    const { server, client } = await connectedPair()
    function add(a: number, b: number): number {
      return a + b
    }
    expect(server.expose(add)).toBe(server)
    expect(await client.rpc('add', 1, 2)).toBe(3)
  })

  test('a name and a function, replacing an earlier one', async () => {
    const { server, client } = await connectedPair()
    server.expose('greet', (name: string) => `hello ${name}`)
    expect(await client.rpc('greet', 'ada')).toBe('hello ada')
    server.expose('greet', (name: string) => `hi ${name}`)
    expect(await client.rpc('greet', 'ada')).toBe('hi ada')
  })

  test('a plain object: its own function properties, called with the object as this', async () => {
    const { server, client } = await connectedPair()
    const api = {
      factor: 3,
      times(x: number) {
        return this.factor * x
      },
      async later(x: number) {
        return this.factor + x
      },
    }
    server.expose(api)
    expect(await client.rpc('times', 2)).toBe(6)
    expect(await client.rpc('later', 2)).toBe(5)
    expect(await rejection(client.rpc('factor'))).toBeInstanceOf(MethodNotFoundError)
  })

  test('a null-prototype object is a plain object', async () => {
    const { server, client } = await connectedPair()
    server.expose(Object.assign(Object.create(null) as object, { ping: () => 'pong' }))
    expect(await client.rpc('ping')).toBe('pong')
  })

  test('a class instance: only its @expose() methods, under their own or public names, with this', async () => {
    const { server, client } = await connectedPair()
    class Calculator {
      factor = 10

      @expose()
      scale(x: number): number {
        return x * this.factor
      }

      @expose('sum')
      add(a: number, b: number): number {
        return a + b
      }

      @expose({ context: true })
      where(context: CallContext): boolean {
        return context.channel === server && context.signal instanceof AbortSignal
      }

      hidden(): string {
        return 'hidden'
      }
    }
    server.expose(new Calculator())
    expect(await client.rpc('scale', 2)).toBe(20)
    expect(await client.rpc('sum', 1, 2)).toBe(3)
    expect(await client.rpc('where')).toBe(true)
    for (const name of ['add', 'hidden', 'factor', 'constructor']) {
      const error = await rejection(client.rpc(name))
      expect(error, name).toBeInstanceOf(MethodNotFoundError)
    }
  })

  test('decorated methods of a base class are exposed from a subclass instance, overrides included', async () => {
    const { server, client } = await connectedPair()
    class Base {
      @expose()
      kind(): string {
        return 'base'
      }
    }
    class Derived extends Base {
      override kind(): string {
        return 'derived'
      }
    }
    server.expose(new Derived())
    expect(await client.rpc('kind')).toBe('derived')
  })

  test('a class instance with no decorated methods throws', async () => {
    const { server } = await connectedPair()
    class Plain {
      method(): number {
        return 1
      }
    }
    expect(() => server.expose(new Plain())).toThrowErrorMatchingInlineSnapshot(
      `[TypeError: expose(instance): Plain has no methods marked with @expose()]`,
    )
  })

  test('an anonymous function throws', async () => {
    const { server } = await connectedPair()
    expect(() => server.expose(() => 1)).toThrowErrorMatchingInlineSnapshot(`[TypeError: expose(fn): fn has no name; use expose(name, fn)]`)
  })

  test('other wrong arguments throw TypeError', async () => {
    const { server } = await connectedPair()
    expect(() => server.expose('name', 42 as never)).toThrow(TypeError)
    expect(() => server.expose('', () => 1)).toThrow(TypeError)
    expect(() => server.expose(42 as never)).toThrow(TypeError)
    expect(() => server.expose(null as never)).toThrow(TypeError)
  })

  test('unexpose removes a name', async () => {
    const { server, client } = await connectedPair()
    server.expose('temp', () => 'here')
    expect(await client.rpc('temp')).toBe('here')
    expect(server.unexpose('temp')).toBe(true)
    expect(await rejection(client.rpc('temp'))).toBeInstanceOf(MethodNotFoundError)
    expect(server.unexpose('temp')).toBe(false)
    expect(server.unexpose('never-exposed')).toBe(false)
  })

  test('inherited and prototype names are never callable', async () => {
    const { server, client } = await connectedPair()
    server.expose({ greet: () => 'hi' })
    const names = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__', 'prototype', 'then']
    for (const name of names) {
      const error = await rejection(client.rpc(name))
      expect(error, name).toBeInstanceOf(MethodNotFoundError)
      expect((error as MethodNotFoundError).method).toBe(name)
    }
    expect(Object.prototype).not.toHaveProperty('greet')
  })

  test('a missing method is a MethodNotFoundError that names it', async () => {
    const { client } = await connectedPair()
    const error = await rejection(client.rpc('nope'))
    expect(error).toBeInstanceOf(MethodNotFoundError)
    expect(error).toBeInstanceOf(RemoteError)
    expect((error as MethodNotFoundError).code).toBe('ERR_METHOD_NOT_FOUND')
    expect((error as Error).message).toMatchInlineSnapshot(`"method not found: "nope""`)
  })

  test('handlers are per channel: one side exposing a name does not expose it on the other', async () => {
    const { server, client } = await connectedPair()
    server.expose('onlyServer', () => 1)
    expect(await rejection(server.rpc('onlyServer'))).toBeInstanceOf(MethodNotFoundError)
    expect(await client.rpc('onlyServer')).toBe(1)
  })
})

describe('remote<T>()', () => {
  interface Api {
    add(a: number, b: number): number
    fail(): void
  }

  test('calls through the proxy', async () => {
    const { server, client } = await connectedPair()
    server.expose('add', (a: number, b: number) => a + b)
    const api = client.remote<Api>()
    const call = api.add(1, 2)
    expect(call).toBeInstanceOf(InProgress)
    expect(await call).toBe(3)
  })

  test('its then is undefined, so it can be returned from an async function', async () => {
    const { server, client } = await connectedPair()
    server.expose('add', (a: number, b: number) => a + b)
    const api = client.remote<Api>()
    expect((api as unknown as { then?: unknown }).then).toBeUndefined()
    async function getApi() {
      return client.remote<Api>()
    }
    const resolved = await getApi()
    expect(resolved).toBe(api)
    expect(await Promise.resolve(api)).toBe(api)
    expect(await resolved.add(2, 3)).toBe(5)
  })

  test('symbol keys are undefined and methods are stable', async () => {
    const { client } = await connectedPair()
    const api = client.remote<Api>()
    expect((api as unknown as Record<symbol, unknown>)[Symbol.iterator]).toBeUndefined()
    expect((api as unknown as Record<symbol, unknown>)[Symbol.toPrimitive]).toBeUndefined()
    expect(api.add).toBe(api.add)
    expect(client.remote<Api>()).toBe(api)
  })

  test('a missing remote method rejects like rpc', async () => {
    const { client } = await connectedPair()
    expect(await rejection(client.remote<Api>().fail())).toBeInstanceOf(MethodNotFoundError)
  })
})

describe('InProgress', () => {
  test('pending, then finished with a result', async () => {
    const { server, client } = await connectedPair()
    const gate = pDefer<number>()
    server.expose('gated', () => gate.promise)
    const call = client.rpc<number>('gated')
    expect(call).not.toBeInstanceOf(Promise)
    expect(typeof call.then).toBe('function')
    expect([call.finished, call.failed, call.result, call.error]).toEqual([false, false, undefined, undefined])
    gate.resolve(7)
    expect(await call).toBe(7)
    expect([call.finished, call.failed, call.result, call.error]).toEqual([true, false, 7, undefined])
    expect(await call).toBe(7)
  })

  test('failed, with the remote error', async () => {
    const { server, client } = await connectedPair()
    server.expose('bad', () => {
      throw new RangeError('out of range')
    })
    const call = client.rpc('bad')
    const error = await rejection(call)
    expect(error).toBeInstanceOf(RangeError)
    expect(error).toBeInstanceOf(RemoteError)
    expect([call.finished, call.failed, call.result]).toEqual([true, true, undefined])
    expect(call.error).toBe(error)
  })

  test('then, catch and finally behave as on a Promise', async () => {
    const { server, client } = await connectedPair()
    server.expose('value', () => 20)
    server.expose('bad', async () => {
      throw new TypeError('nope')
    })
    expect(await client.rpc<number>('value').then((v) => v + 1)).toBe(21)
    expect(
      await client.rpc('bad').then(
        () => 'ok',
        (e: unknown) => (e as Error).message,
      ),
    ).toBe('nope')
    expect(await client.rpc('bad').catch((e: unknown) => `caught ${(e as Error).name}`)).toBe('caught TypeError')
    expect(await client.rpc('value').catch(() => 'unused')).toBe(20)
    const onFinally = vi.fn()
    expect(await client.rpc('value').finally(onFinally)).toBe(20)
    expect(await rejection(client.rpc('bad').finally(onFinally))).toBeInstanceOf(TypeError)
    expect(onFinally).toHaveBeenCalledTimes(2)
  })

  test('a failed call whose failure is read at once (failed, error) raises no unhandled rejection', async () => {
    const { server, client } = await connectedPair()
    const call = client.rpc('missing')
    // Settles, and is read before the tick ends; awaiting it later still sees the rejection.
    await roundTrip(server, client)
    expect(call.failed).toBe(true)
    expect(await rejection(call)).toBeInstanceOf(MethodNotFoundError)
  })

  test('a thrown non-Error value still rejects, with that value', async () => {
    const { server, client } = await connectedPair()
    server.expose('throwUndefined', () => {
      throw undefined
    })
    server.expose('throwString', () => {
      throw 'plain text'
    })
    server.expose('rejectNull', () => Promise.reject(null))
    expect.assertions(5)
    const call = client.rpc('throwUndefined')
    try {
      await call
    } catch (error) {
      expect(error).toBeUndefined()
    }
    expect(call.failed).toBe(true)
    await expect(client.rpc('throwString')).rejects.toBe('plain text')
    await expect(client.rpc('rejectNull')).rejects.toBeNull()
    expect(client.connected).toBe(true)
  })

  test('remote errors keep props, cause and registered classes', async () => {
    class QuotaError extends Error {
      override name = 'QuotaError'
    }
    const { server, client } = await connectedPair({}, { errors: [QuotaError] })
    server.expose('quota', () => {
      throw Object.assign(new QuotaError('over', { cause: new TypeError('inner') }), { code: 'E_QUOTA', limit: 3 })
    })
    const error = (await rejection(client.rpc('quota'))) as QuotaError & { code: string; limit: number }
    expect(error).toBeInstanceOf(QuotaError)
    expect(error).toBeInstanceOf(RemoteError)
    expect([error.name, error.message, error.code, error.limit]).toEqual(['QuotaError', 'over', 'E_QUOTA', 3])
    expect(error.cause).toBeInstanceOf(TypeError)
  })

  test('onProgress receives progress values in order, before the result', async () => {
    const { server, client } = await connectedPair()
    server.expose(
      'work',
      async (context: CallContext) => {
        context.progress(1)
        context.progress({ step: 2 })
        return 'done'
      },
      { context: true },
    )
    const seen: unknown[] = []
    const call = client.rpc('work')
    expect(call.onProgress((value) => seen.push(value))).toBe(call)
    expect(await call).toBe('done')
    expect(seen).toEqual([1, { step: 2 }])
  })

  test('a streaming call is awaited as the array of its items, or iterated', async () => {
    const { server, client } = await connectedPair()
    server.expose('count', async function* (n: number) {
      for (let i = 0; i < n; i++) yield i
    })
    expect(await client.rpc('count', 5)).toEqual([0, 1, 2, 3, 4])
    const items: unknown[] = []
    for await (const item of client.rpc('count', 3)) items.push(item)
    expect(items).toEqual([0, 1, 2])
  })

  test('abort() rejects locally with AbortError and aborts the remote handler signal', async () => {
    const { server, client } = await connectedPair()
    const started = pDefer<void>()
    const aborted = pDefer<unknown>()
    server.expose(
      'wait',
      (context: CallContext) => {
        context.signal.addEventListener('abort', () => aborted.resolve(context.signal.reason))
        started.resolve()
        return new Promise(() => {})
      },
      { context: true },
    )
    const call = client.rpc('wait')
    await started.promise
    call.abort('changed my mind')
    expect(call.finished).toBe(true)
    expect(call.failed).toBe(true)
    const error = await rejection(call)
    expect(error).toBeInstanceOf(AbortError)
    expect((error as AbortError).code).toBe('ABORT_ERR')
    expect((error as AbortError).cause).toBe('changed my mind')
    expect((error as Error).message).toMatchInlineSnapshot(`"call "wait" was aborted"`)
    expect(await aborted.promise).toBe('changed my mind')
    // Aborting again, or after the end, changes nothing.
    call.abort('again')
    expect(call.error).toBe(error)
  })

  test('abort() without a reason aborts the remote signal with an AbortError', async () => {
    const { server, client } = await connectedPair()
    const started = pDefer<void>()
    const aborted = pDefer<unknown>()
    server.expose(
      'wait',
      (context: CallContext) => {
        context.signal.addEventListener('abort', () => aborted.resolve(context.signal.reason))
        started.resolve()
        return new Promise(() => {})
      },
      { context: true },
    )
    const call = client.rpc('wait')
    await started.promise
    call.abort()
    expect(await rejection(call)).toBeInstanceOf(AbortError)
    const reason = await aborted.promise
    expect(reason).toBeInstanceOf(AbortError)
    expect(reason).toBeInstanceOf(RemoteError)
  })

  test('abort() after the call finished is a no-op', async () => {
    const { server, client } = await connectedPair()
    server.expose('quick', () => 1)
    const call = client.rpc('quick')
    expect(await call).toBe(1)
    call.abort()
    expect([call.failed, call.result]).toEqual([false, 1])
  })

  test('a call aborted before the connection is up is never sent', async () => {
    const { server, client, attach } = channelPair()
    const handler = vi.fn()
    server.expose('effect', handler)
    const call = client.rpc('effect')
    call.abort()
    expect(await rejection(call)).toBeInstanceOf(AbortError)
    await Promise.all(attach())
    await roundTrip(server, client)
    expect(handler).not.toHaveBeenCalled()
  })

  test('a late result after abort is dropped without trouble', async () => {
    const { server, client } = await connectedPair()
    const gate = pDefer<string>()
    server.expose('slow', () => gate.promise)
    const errors: unknown[] = []
    client.on('error', (error) => errors.push(error))
    server.on('error', (error) => errors.push(error))
    const call = client.rpc('slow')
    await roundTrip(server, client)
    call.abort()
    gate.resolve('late')
    await roundTrip(server, client)
    expect(await rejection(call)).toBeInstanceOf(AbortError)
    expect(errors).toEqual([])
    expect(client.connected).toBe(true)
  })
})

describe('timeouts', () => {
  test('timeout(ms) rejects with TimeoutError, aborts the remote handler and leaves no timer', async () => {
    const { server, client } = await connectedPair()
    const aborted = pDefer<unknown>()
    server.expose(
      'never',
      (context: CallContext) => {
        context.signal.addEventListener('abort', () => aborted.resolve(context.signal.reason))
        return new Promise(() => {})
      },
      { context: true },
    )
    vi.useFakeTimers()
    onTestFinished(() => {
      vi.useRealTimers()
    })
    const call = client.rpc('never')
    expect(call.timeout(1000)).toBe(call)
    const failed = rejection(call)
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(999)
    expect(call.finished).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(call.finished).toBe(true)
    const error = await failed
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as TimeoutError).code).toBe('ERR_TIMEOUT')
    expect((error as Error).message).toMatchInlineSnapshot(`"call "never" timed out after 1000 ms"`)
    expect(vi.getTimerCount()).toBe(0)
    const reason = await aborted.promise
    expect(reason).toBeInstanceOf(TimeoutError)
  })

  test('a call that finishes in time clears its timer', async () => {
    const { server, client } = await connectedPair()
    server.expose('quick', () => 'fast')
    vi.useFakeTimers()
    onTestFinished(() => {
      vi.useRealTimers()
    })
    const call = client.rpc('quick').timeout(1000)
    expect(vi.getTimerCount()).toBe(1)
    expect(await call).toBe('fast')
    expect(vi.getTimerCount()).toBe(0)
  })

  test('a later timeout() replaces the earlier deadline, and timeout() after the end arms nothing', async () => {
    const { server, client } = await connectedPair()
    const gate = pDefer<string>()
    server.expose('gated', () => gate.promise)
    vi.useFakeTimers()
    onTestFinished(() => {
      vi.useRealTimers()
    })
    const call = client.rpc('gated').timeout(100).timeout(5000)
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(200)
    expect(call.finished).toBe(false)
    gate.resolve('ok')
    expect(await call).toBe('ok')
    void call.timeout(10)
    expect(vi.getTimerCount()).toBe(0)
  })

  test('the deadline timer does not keep the process alive', async () => {
    const { client } = await connectedPair()
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout')
    onTestFinished(() => {
      setTimeoutSpy.mockRestore()
    })
    const call = client.rpc('missing-but-slow').timeout(60_000)
    const timer = setTimeoutSpy.mock.results.at(-1)?.value as NodeJS.Timeout
    expect(timer.hasRef()).toBe(false)
    await rejection(call)
  })

  test('callTimeout applies to every call', async () => {
    const { server, client } = await connectedPair({}, { callTimeout: 30 })
    server.expose('never', () => new Promise(() => {}))
    expect(await rejection(client.rpc('never'))).toBeInstanceOf(TimeoutError)
  })
})

describe('closing', () => {
  test('calls after close reject with ChannelClosedError; notify throws it', async () => {
    const { server, client } = await connectedPair()
    server.expose('add', (a: number, b: number) => a + b)
    await client.close()
    expect(client.connected).toBe(false)
    const call = client.rpc('add', 1, 2)
    const error = await rejection(call)
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect((error as ChannelClosedError).code).toBe('ERR_CHANNEL_CLOSED')
    expect((error as Error).message).toMatchInlineSnapshot(`"cannot call "add": the channel is closed"`)
    expect(await rejection(client.remote<{ add(a: number, b: number): number }>().add(1, 2))).toBeInstanceOf(ChannelClosedError)
    expect(() => client.notify('log', 'x')).toThrow(ChannelClosedError)
    expect(() => client.notify('log', 'x')).toThrowErrorMatchingInlineSnapshot(`[ChannelClosedError: cannot notify "log": the channel is closed]`)
  })

  test('the peer also ends, and its calls reject too', async () => {
    const { server, client } = await connectedPair()
    const disconnected = next(server, 'disconnect')
    await client.close()
    await disconnected
    expect(server.connected).toBe(false)
    expect(await rejection(server.rpc('anything'))).toBeInstanceOf(ChannelClosedError)
    expect(() => server.notify('anything')).toThrow(ChannelClosedError)
  })

  test('a transport that ends without an error: pending calls say the connection was lost, once', async () => {
    const { server, client, serverTransport } = await connectedPair()
    server.expose('never', () => new Promise(() => {}))
    const pending = rejection<ChannelClosedError>(client.rpc('never'))
    await client.rpc('__missing').then(undefined, () => {})
    serverTransport.destroy()
    const error = await pending
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toBe('the connection was lost')
  })

  test('close() is idempotent and destroy() after close() is harmless', async () => {
    const { client } = await connectedPair()
    await Promise.all([client.close(), client.close()])
    await client.close()
    await client.destroy(new Error('late'))
    expect(client.connected).toBe(false)
  })

  test('destroy(err) rejects pending calls with ChannelClosedError whose cause is err', async () => {
    const { server, client } = await connectedPair()
    server.expose('never', () => new Promise(() => {}))
    const call = client.rpc('never')
    await roundTrip(server, client)
    const reason = new Error('shutting down')
    await client.destroy(reason)
    const error = await rejection(call)
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect((error as Error).cause).toBe(reason)
  })

  test('Symbol.asyncDispose closes the channel', async () => {
    const { server, client } = await connectedPair()
    server.expose('never', () => new Promise(() => {}))
    const pending = client.rpc('never')
    const disconnected = next(server, 'disconnect')
    await client[Symbol.asyncDispose]()
    expect(client.connected).toBe(false)
    expect(await rejection(pending)).toBeInstanceOf(ChannelClosedError)
    await disconnected
  })

  test('await using closes the channel at the end of the block', async () => {
    const { server, client } = await connectedPair()
    const disconnected = next(server, 'disconnect')
    {
      await using scoped = client
      expect(scoped.connected).toBe(true)
    }
    expect(client.connected).toBe(false)
    await disconnected
  })

  test('running handlers are aborted when the channel closes', async () => {
    const { server, client } = await connectedPair()
    const started = pDefer<void>()
    const aborted = pDefer<unknown>()
    server.expose(
      'wait',
      (context: CallContext) => {
        context.signal.addEventListener('abort', () => aborted.resolve(context.signal.reason))
        started.resolve()
        return new Promise(() => {})
      },
      { context: true },
    )
    const call = client.rpc('wait')
    await started.promise
    await server.close()
    expect(await aborted.promise).toBeInstanceOf(ChannelClosedError)
    expect(await rejection(call)).toBeInstanceOf(ChannelClosedError)
  })
})

describe('handshake failures', () => {
  test('a wrong secret fails both sides with AuthenticationError', async () => {
    const { server, client, attach } = channelPair({ secret: 'right' }, { secret: 'wrong' })
    const results = await Promise.allSettled(attach())
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected'])
    for (const result of results) {
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(AuthenticationError)
      expect(((result as PromiseRejectedResult).reason as AuthenticationError).code).toBe('ERR_AUTHENTICATION')
    }
    expect(server.connected).toBe(false)
    expect(client.connected).toBe(false)
  })

  test('a secret on one side only fails both sides with AuthenticationError', async () => {
    const { attach } = channelPair({ secret: 'only-here' }, {})
    const [serverResult, clientResult] = await Promise.allSettled(attach())
    expect((serverResult as PromiseRejectedResult).reason).toBeInstanceOf(AuthenticationError)
    expect((clientResult as PromiseRejectedResult).reason).toBeInstanceOf(AuthenticationError)
  })

  test('calls queued before a failed handshake reject with ChannelClosedError', async () => {
    const { server, client, attach } = channelPair({ secret: 'a' }, { secret: 'b' })
    const handler = vi.fn()
    server.expose('effect', handler)
    const queued = client.rpc('effect')
    await Promise.allSettled(attach())
    expect(await rejection(queued)).toBeInstanceOf(ChannelClosedError)
    expect(handler).not.toHaveBeenCalled()
  })

  test('a hello with the wrong magic is a ProtocolError', async () => {
    const peer = channelWithRawPeer()
    peer.send([MessageType.Hello, 'not-ipc-channel', PROTOCOL_VERSION, null, {}])
    const error = await rejection(peer.attached)
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toMatchInlineSnapshot(`"not an ipc-channel peer (magic "not-ipc-channel")"`)
    await peer.peerClosed
  })

  test('a hello with another protocol version is a ProtocolError', async () => {
    const peer = channelWithRawPeer()
    peer.send([MessageType.Hello, MAGIC, PROTOCOL_VERSION + 1, null, {}])
    const error = await rejection(peer.attached)
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toMatchInlineSnapshot(`"protocol version mismatch: this side speaks 1, the peer 2"`)
  })

  test('garbage instead of a hello is a ProtocolError', async () => {
    const peer = channelWithRawPeer()
    peer.inject(new Uint8Array([0x1c, 0x00]))
    expect(await rejection(peer.attached)).toBeInstanceOf(ProtocolError)
  })

  test('a call before the hello is a ProtocolError and is not run', async () => {
    const peer = channelWithRawPeer()
    const handler = vi.fn()
    peer.channel.expose('effect', handler)
    peer.send([MessageType.Call, 1, 'effect', []])
    const error = await rejection(peer.attached)
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toMatchInlineSnapshot(`"message type 2 sent before the handshake completed"`)
    expect(handler).not.toHaveBeenCalled()
  })

  test('with a secret, nothing but the auth proof is accepted after the hello', async () => {
    const peer = channelWithRawPeer({ secret: 's3cret' })
    const handler = vi.fn()
    peer.channel.expose('effect', handler)
    peer.send([MessageType.Hello, MAGIC, PROTOCOL_VERSION, new Uint8Array(32).fill(1), {}])
    peer.send([MessageType.Call, 1, 'effect', []])
    const error = await rejection(peer.attached)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(handler).not.toHaveBeenCalled()
    expect(peer.channel.connected).toBe(false)
  })

  test('a forged auth proof is an AuthenticationError', async () => {
    const peer = channelWithRawPeer({ secret: 's3cret' })
    peer.send([MessageType.Hello, MAGIC, PROTOCOL_VERSION, new Uint8Array(32).fill(1), {}])
    peer.send([MessageType.Auth, new Uint8Array(32).fill(2)])
    expect(await rejection(peer.attached)).toBeInstanceOf(AuthenticationError)
  })

  test('more than maxHandshakeBytes before the handshake completes is a ProtocolError', async () => {
    const peer = channelWithRawPeer({ secret: 's3cret', maxHandshakeBytes: 256 })
    peer.inject(new Uint8Array(300))
    const error = await rejection(peer.attached)
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toMatchInlineSnapshot(`"more than 256 bytes sent before the handshake completed"`)
  })

  test('a silent peer fails the handshake with TimeoutError after handshakeTimeout', async () => {
    const peer = channelWithRawPeer({ handshakeTimeout: 30 })
    const error = await rejection(peer.attached)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(peer.received[0]?.[0]).toBe(MessageType.Hello)
  })
})

describe('hostile or broken input after the handshake', () => {
  test('a malformed payload closes only that channel, with a ProtocolError emitted as error', async () => {
    const first = await connectedPair()
    const second = await connectedPair()
    first.server.expose('never', () => new Promise(() => {}))
    second.server.expose('add', (a: number, b: number) => a + b)
    const pendingFromClient = first.client.rpc('never')
    first.client.expose('never', () => new Promise(() => {}))
    const pendingFromServer = first.server.rpc('never')
    await roundTrip(first.server, first.client)

    const errorEvent = next(first.server, 'error')
    const serverDisconnect = next(first.server, 'disconnect')
    const clientDisconnect = next(first.client, 'disconnect')
    first.clientTransport.inject(new Uint8Array([0x1c, 0x01, 0x02]))

    const [error] = await errorEvent
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toMatch(/^malformed CBOR payload/)
    const [reason] = await serverDisconnect
    expect(reason).toBe(error)
    await clientDisconnect
    expect(first.server.connected).toBe(false)
    expect(first.client.connected).toBe(false)
    const serverSide = await rejection(pendingFromServer)
    expect(serverSide).toBeInstanceOf(ChannelClosedError)
    expect((serverSide as Error).cause).toBe(error)
    expect(await rejection(pendingFromClient)).toBeInstanceOf(ChannelClosedError)

    // The other channel goes on.
    expect(second.server.connected).toBe(true)
    expect(await second.client.rpc('add', 2, 3)).toBe(5)
  })

  test.each([
    ['an unknown message type', [99, 1], 'unknown message type 99'],
    ['a message that is not an array', { type: 2 }, 'a message must be an array starting with its type'],
    ['a call with a bad id', [MessageType.Call, -1, 'x', []], 'malformed call message'],
    ['a call whose args are not an array', [MessageType.Call, 1, 'x', 'args'], 'malformed call message'],
    ['a hello after the handshake', [MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, {}], 'handshake message after the handshake completed'],
  ])('%s is a ProtocolError that closes the channel', async (_label, message, text) => {
    const { server, clientTransport } = await connectedPair()
    const errorEvent = next(server, 'error')
    clientTransport.inject(new Codec().encode(message as never))
    const [error] = await errorEvent
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toBe(text)
    expect(server.connected).toBe(false)
  })

  test('replies, errors, progress and ends for unknown ids are ignored', async () => {
    const { server, client, serverTransport } = await connectedPair()
    server.expose('add', (a: number, b: number) => a + b)
    const errors: unknown[] = []
    client.on('error', (error) => errors.push(error))
    const codec = new Codec()
    serverTransport.inject(codec.encode([MessageType.Result, 999_999, 'late']))
    serverTransport.inject(codec.encode([MessageType.Error, 999_998, { type: 'value', value: 'late' }]))
    serverTransport.inject(codec.encode([MessageType.Progress, 999_997, 1]))
    serverTransport.inject(codec.encode([MessageType.Item, 999_996, 1]))
    serverTransport.inject(codec.encode([MessageType.End, 999_995]))
    serverTransport.inject(codec.encode([MessageType.Cancel, 999_994, { type: 'value', value: undefined }]))
    serverTransport.inject(codec.encode([MessageType.Credit, 999_993, 5]))
    expect(await client.rpc('add', 1, 1)).toBe(2)
    expect(errors).toEqual([])
    expect(client.connected).toBe(true)
  })

  test('a notification for an unknown method is reported as error and the channel stays up', async () => {
    const { server, client } = await connectedPair()
    const errorEvent = next(server, 'error')
    client.notify('nobodyHome', 1)
    const [error] = await errorEvent
    expect(error).toBeInstanceOf(MethodNotFoundError)
    expect(server.connected).toBe(true)
  })

  test('a ping is answered with a pong carrying the same token', async () => {
    const { server, client, serverTransport, clientTransport } = await connectedPair()
    const before = serverTransport.sent.length
    clientTransport.inject(new Codec().encode([MessageType.Ping, 42]))
    await roundTrip(server, client)
    const codec = new Codec()
    const replies = serverTransport.sent.slice(before).map((payload) => codec.decode(payload) as unknown[])
    expect(replies).toContainEqual([MessageType.Pong, 42])
  })
})

describe('notify', () => {
  test('runs the handler with no reply', async () => {
    const { server, client } = await connectedPair()
    const got = pDefer<unknown[]>()
    server.expose('log', (...args: unknown[]) => got.resolve(args))
    expect(client.notify('log', 'fire', 'and forget')).toBeUndefined()
    expect(await got.promise).toEqual(['fire', 'and forget'])
  })

  test('a throwing notification handler is reported on the handling side only', async () => {
    const { server, client } = await connectedPair()
    server.expose('boom', () => {
      throw new Error('boom')
    })
    const clientErrors: unknown[] = []
    client.on('error', (error) => clientErrors.push(error))
    const errorEvent = next(server, 'error')
    client.notify('boom')
    const [error] = await errorEvent
    expect((error as Error).message).toBe('boom')
    expect(clientErrors).toEqual([])
  })
})
