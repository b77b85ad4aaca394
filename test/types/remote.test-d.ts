import { describe, expectTypeOf, test } from 'vitest'
import { Channel, InProgress, type CallContext, type Remote, type RemoteReturn } from '../../src/index.js'

interface Api {
  add(a: number, b: number): number
  fetchUser(id: string): Promise<{ id: string; name: string }>
  nothing(): void
  count(to: number): AsyncGenerator<number, void, unknown>
  lines(): AsyncIterable<string>
  withContext(context: CallContext, text: string): string
  onlyContext(context: CallContext): Promise<boolean>
  arrow: (flag: boolean) => Date
  optionalArgs(required: number, optional?: string): bigint
  rest(...values: number[]): number
  version: string
  readonly limits: { max: number }
}

declare const channel: Channel
const api = channel.remote<Api>()

describe('remote<T>()', () => {
  test('a method returns an InProgress of its result', () => {
    expectTypeOf(api.add).parameters.toEqualTypeOf<[a: number, b: number]>()
    expectTypeOf(api.add(1, 2)).toEqualTypeOf<InProgress<number, number>>()
    expectTypeOf<Awaited<ReturnType<typeof api.add>>>().toEqualTypeOf<number>()
    expectTypeOf(api.arrow(true)).toEqualTypeOf<InProgress<Date, Date>>()
    expectTypeOf(api.nothing()).toEqualTypeOf<InProgress<void, void>>()
  })

  test('a method returning a promise returns an InProgress of the awaited result', () => {
    expectTypeOf(api.fetchUser('u1')).toEqualTypeOf<InProgress<{ id: string; name: string }, { id: string; name: string }>>()
    expectTypeOf<Awaited<ReturnType<typeof api.fetchUser>>>().toEqualTypeOf<{ id: string; name: string }>()
  })

  test('an async generator or async iterable is a stream: InProgress<Item[], Item>', () => {
    expectTypeOf(api.count(3)).toEqualTypeOf<InProgress<number[], number>>()
    expectTypeOf(api.lines()).toEqualTypeOf<InProgress<string[], string>>()
    expectTypeOf<Awaited<ReturnType<typeof api.count>>>().toEqualTypeOf<number[]>()
    expectTypeOf(api.count(3)).toExtend<AsyncIterable<number>>()
  })

  test('a leading CallContext parameter is dropped', () => {
    expectTypeOf(api.withContext).parameters.toEqualTypeOf<[text: string]>()
    expectTypeOf(api.withContext('x')).toEqualTypeOf<InProgress<string, string>>()
    expectTypeOf(api.onlyContext).parameters.toEqualTypeOf<[]>()
    expectTypeOf(api.onlyContext()).toEqualTypeOf<InProgress<boolean, boolean>>()
  })

  test('optional and rest parameters are kept', () => {
    expectTypeOf(api.optionalArgs).parameters.toEqualTypeOf<[required: number, optional?: string]>()
    expectTypeOf(api.optionalArgs(1)).toEqualTypeOf<InProgress<bigint, bigint>>()
    expectTypeOf(api.rest).parameters.toEqualTypeOf<number[]>()
  })

  test('non-function properties are absent', () => {
    expectTypeOf(api).not.toHaveProperty('version')
    expectTypeOf(api).not.toHaveProperty('limits')
    expectTypeOf<keyof Remote<Api>>().toEqualTypeOf<
      'add' | 'fetchUser' | 'nothing' | 'count' | 'lines' | 'withContext' | 'onlyContext' | 'arrow' | 'optionalArgs' | 'rest'
    >()
  })

  test('the proxy has no then, so it is not a thenable', () => {
    expectTypeOf(api).not.toHaveProperty('then')
    expectTypeOf(api).not.toExtend<PromiseLike<unknown>>()
  })

  test('wrong arguments and unknown methods are type errors', () => {
    // @ts-expect-error a string where a number is expected
    void api.add('1', 2)
    // @ts-expect-error too few arguments
    void api.add(1)
    // @ts-expect-error the context is supplied by the channel, not the caller
    void api.withContext({} as CallContext, 'x')
    // @ts-expect-error not a method of Api
    void api.missing()
  })

  test('Remote and RemoteReturn are usable on their own', () => {
    expectTypeOf<Remote<Api>>().toEqualTypeOf<typeof api>()
    expectTypeOf<RemoteReturn<Promise<string>>>().toEqualTypeOf<InProgress<string, string>>()
    expectTypeOf<RemoteReturn<AsyncGenerator<Uint8Array>>>().toEqualTypeOf<InProgress<Uint8Array[], Uint8Array>>()
  })
})

describe('rpc<T>()', () => {
  test('the result type is the type argument, unknown by default', () => {
    expectTypeOf(channel.rpc('add', 1, 2)).toEqualTypeOf<InProgress<unknown, unknown>>()
    expectTypeOf(channel.rpc<number>('add', 1, 2)).toEqualTypeOf<InProgress<number, unknown>>()
    expectTypeOf(channel.rpc<string[], string>('lines')).toEqualTypeOf<InProgress<string[], string>>()
  })

  test('an InProgress is a thenable with promise-like methods, awaited as its result', () => {
    const call = channel.rpc<number>('add', 1, 2)
    expectTypeOf(call).toExtend<PromiseLike<number>>()
    expectTypeOf<Awaited<typeof call>>().toEqualTypeOf<number>()
    expectTypeOf(call.then((v) => String(v))).toEqualTypeOf<Promise<string>>()
    expectTypeOf(call.catch(() => 'fallback' as const)).toEqualTypeOf<Promise<number | 'fallback'>>()
    expectTypeOf(call.finally(() => {})).toEqualTypeOf<Promise<number>>()
    expectTypeOf(call.result).toEqualTypeOf<number | undefined>()
    expectTypeOf(call.error).toBeUnknown()
    expectTypeOf(call.finished).toBeBoolean()
    expectTypeOf(call.failed).toBeBoolean()
  })

  test('timeout and onProgress chain, abort returns nothing', () => {
    const call = channel.rpc<number>('add', 1, 2)
    expectTypeOf(call.timeout(1000)).toEqualTypeOf<InProgress<number, unknown>>()
    expectTypeOf(call.onProgress((value) => expectTypeOf(value).toBeUnknown())).toEqualTypeOf<InProgress<number, unknown>>()
    expectTypeOf(call.abort()).toBeVoid()
    expectTypeOf(call.abort(new Error('why'))).toBeVoid()
  })

  test('notify returns nothing', () => {
    expectTypeOf(channel.notify('log', 'text')).toBeVoid()
  })

  test('close and asyncDispose return promises of void', () => {
    expectTypeOf(channel.close()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(channel[Symbol.asyncDispose]()).toEqualTypeOf<Promise<void>>()
  })
})

interface Namespaced {
  add(a: number, b: number): number
  auth: {
    checkPassword(user: string, password: string): Promise<boolean>
    admin: { users(): string[]; readonly count: number }
  }
  settings: { theme: string }
  when: Date
  tags: string[]
  optional?: { ping(): 'pong' }
}

describe('remote<T>() with namespaces', () => {
  const api = channel.remote<Namespaced>()

  test('a property holding methods is a nested proxy of the same kind', () => {
    expectTypeOf(api.auth.checkPassword('alice', 'pw')).toEqualTypeOf<InProgress<boolean, boolean>>()
    expectTypeOf(api.auth.admin.users()).toEqualTypeOf<InProgress<string[], string[]>>()
    expectTypeOf(api.optional.ping()).toEqualTypeOf<InProgress<'pong', 'pong'>>()
    expectTypeOf<keyof typeof api>().toEqualTypeOf<'add' | 'auth' | 'optional'>()
    expectTypeOf<keyof typeof api.auth.admin>().toEqualTypeOf<'users'>()
  })

  test('data (objects without methods, dates, arrays) is not part of it', () => {
    expectTypeOf(api).not.toHaveProperty('settings')
    expectTypeOf(api).not.toHaveProperty('when')
    expectTypeOf(api).not.toHaveProperty('tags')
    // @ts-expect-error not a method
    void api.auth.admin.count
  })
})

describe('progress types', () => {
  interface Copying {
    copy(context: CallContext<number>, from: string): Promise<string>
    plain(): void
  }
  const api = channel.remote<Copying>()

  test("a handler's CallContext<P> types the caller's onProgress", () => {
    expectTypeOf(api.copy('a')).toEqualTypeOf<InProgress<string, string, number>>()
    void api.copy('a').onProgress((percent) => expectTypeOf(percent).toEqualTypeOf<number>())
    void api.plain().onProgress((value) => expectTypeOf(value).toBeUnknown())
  })

  test('rpc and call take it as a third type argument', () => {
    void channel.rpc<string, unknown, { done: number }>('copy').onProgress((value) => expectTypeOf(value).toEqualTypeOf<{ done: number }>())
    expectTypeOf(channel.call<string, unknown, number>('copy', [])).toEqualTypeOf<InProgress<string, unknown, number>>()
  })

  test('a CallContext<P> handler may only report P', () => {
    const handler = (context: CallContext<number>): void => {
      context.progress(50)
      // @ts-expect-error a string where the progress type is number
      context.progress('half')
    }
    void handler
  })
})

describe('remote<T>(options)', () => {
  test('takes a signal and a deadline for every call through it', () => {
    const api = channel.remote<Api>({ signal: AbortSignal.timeout(1000), timeout: 500 })
    expectTypeOf(api.add(1, 2)).toEqualTypeOf<InProgress<number, number>>()
    // @ts-expect-error not a call option
    channel.remote<Api>({ retries: 3 })
  })
})
