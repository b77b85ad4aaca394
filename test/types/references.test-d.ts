import { describe, expectTypeOf, test } from 'vitest'
import { Channel, InProgress, ref, type CallContext, type Ref, type Remoted, type Stub } from '../../src/index.js'

interface Account {
  deposit(amount: number): number
  history(): AsyncGenerator<{ amount: number }>
  owner: string
}

interface Api {
  subscribe(topic: string, listener: (event: { text: string; reply: (answer: string) => void }) => void): { unsubscribe: () => void }
  openAccount(): Ref<Account>
  counter(): () => number
  slow(signal: AbortSignal): Promise<boolean>
  tasks(): AsyncGenerator<{ name: string; run: () => Promise<string> }>
  call(fn: (x: number) => string, x: number): string
}

declare const channel: Channel
const api = channel.remote<Api>()

describe('ref()', () => {
  test('returns a Ref of its target, for an object or a function', () => {
    expectTypeOf(ref({ f: () => 1 })).toExtend<Ref<{ f: () => number }>>()
    expectTypeOf(ref((x: number) => x)).toExtend<Ref<(x: number) => number>>()
    expectTypeOf(ref({ f: () => 1 }, { context: true })).toExtend<Ref<{ f: () => number }>>()
    // @ts-expect-error a Ref of one type is not a Ref of another
    expectTypeOf(ref({ f: () => 1 })).toExtend<Ref<{ g: () => number }>>()
  })

  test('takes no primitive', () => {
    // @ts-expect-error a number cannot be passed by reference
    void ref(1)
  })
})

describe('Stub', () => {
  test('of a function: calling it returns an InProgress of the awaited result; it can be disposed', () => {
    type S = Stub<(a: number, b: string) => Promise<boolean>>
    expectTypeOf<S>().parameters.toEqualTypeOf<[a: number, b: string]>()
    expectTypeOf<ReturnType<S>>().toEqualTypeOf<InProgress<boolean, boolean>>()
    expectTypeOf<S>().toExtend<Disposable>()
  })

  test('of an object: its methods, each returning an InProgress; no data properties', () => {
    type S = Stub<Account>
    expectTypeOf<S['deposit']>().toEqualTypeOf<(amount: number) => InProgress<number, number>>()
    expectTypeOf<ReturnType<S['history']>>().toEqualTypeOf<InProgress<{ amount: number }[], { amount: number }>>()
    expectTypeOf<S>().not.toHaveProperty('owner')
    expectTypeOf<S>().toExtend<Disposable>()
  })
})

describe('remote<T>() with references', () => {
  test('a function result is a stub; a Ref result is a stub of its object', () => {
    expectTypeOf(api.counter()).toEqualTypeOf<InProgress<Stub<() => number>, Stub<() => number>>>()
    expectTypeOf(api.openAccount()).toEqualTypeOf<InProgress<Stub<Account>, Stub<Account>>>()
  })

  test('functions inside a result and inside stream items are stubs', () => {
    expectTypeOf<Awaited<ReturnType<typeof api.subscribe>>>().toEqualTypeOf<{ unsubscribe: Stub<() => void> }>()
    expectTypeOf<Awaited<ReturnType<typeof api.tasks>>>().toEqualTypeOf<{ name: string; run: Stub<() => Promise<string>> }[]>()
  })

  test('a function parameter takes a local function, sync or async, or a stub of the same signature', () => {
    void api.call((x) => String(x), 1)
    void api.call(async (x) => String(x), 1)
    void api.call({} as Stub<(x: number) => string>, 1)
    // @ts-expect-error the callback returns a number where a string is expected
    void api.call((x: number) => x, 1)
  })

  test('what the peer passes to a callback arrives remoted: its functions are stubs', () => {
    void api.subscribe('news', (event) => {
      expectTypeOf(event.text).toEqualTypeOf<string>()
      expectTypeOf(event.reply).toEqualTypeOf<Stub<(answer: string) => void>>()
    })
  })

  test('an AbortSignal parameter takes an AbortSignal', () => {
    void api.slow(new AbortController().signal)
    expectTypeOf(api.slow).parameters.toEqualTypeOf<[signal: AbortSignal]>()
  })

  test('Remoted keeps data as it is', () => {
    expectTypeOf<Remoted<{ when: Date; bytes: Uint8Array; map: Map<string, number>; list: number[] }>>().toEqualTypeOf<{
      when: Date
      bytes: Uint8Array
      map: Map<string, number>
      list: number[]
    }>()
  })
})

describe('references with the rest of remote<T>(): context, progress, namespaces, expose<Api>', () => {
  interface Jobs {
    run(context: CallContext<number>, onLine: (line: string) => void): Promise<() => boolean>
    admin: { subscribe(listener: (event: { stop: () => void }) => void): Ref<Account> }
  }
  const jobs = channel.remote<Jobs>()

  test('a handler taking a context: the caller passes callbacks, gets stubs, and progress is typed', () => {
    expectTypeOf(jobs.run).parameters.toEqualTypeOf<[onLine: (line: string) => void | PromiseLike<void>]>()
    expectTypeOf(jobs.run(() => {})).toEqualTypeOf<InProgress<Stub<() => boolean>, Stub<() => boolean>, number>>()
    void jobs.run(async () => {}).onProgress((percent) => expectTypeOf(percent).toEqualTypeOf<number>())
  })

  test('a namespace method takes callbacks and returns stubs too', () => {
    const subscribed = jobs.admin.subscribe((event) => {
      expectTypeOf(event.stop).toEqualTypeOf<Stub<() => void>>()
    })
    expectTypeOf(subscribed).toEqualTypeOf<InProgress<Stub<Account>, Stub<Account>>>()
  })

  test('a stub of a function that takes a context leaves the context to its owner', () => {
    type S = Stub<(context: CallContext<string>, x: number) => number>
    expectTypeOf<S>().parameters.toEqualTypeOf<[x: number]>()
    expectTypeOf<ReturnType<S>>().toEqualTypeOf<InProgress<number, number, string>>()
  })

  test('expose<Api>(object) takes an implementation that receives its callbacks as stubs', () => {
    channel.expose<{ each(fn: (n: number) => string): void }>({
      async each(fn: Stub<(n: number) => string>) {
        expectTypeOf(await fn(1)).toEqualTypeOf<string>()
      },
    })
  })
})
