import type { ChildProcess } from 'node:child_process'
import { describe, expectTypeOf, test } from 'vitest'
import { Channel, Server, expose, spawnChild, type CallContext, type ChildLink, type Implementation } from '../../src/index.js'

declare const channel: Channel
declare const server: Server

interface Api {
  add(a: number, b: number): number
  auth: { checkPassword(user: string, password: string): Promise<boolean> }
  count(to: number): AsyncGenerator<number>
  version: string
}

const copy = (context: CallContext, from: string): string => (context.signal.aborted ? '' : from)

describe('a handler that takes a CallContext first', () => {
  test('is a type error without { context: true }, in every form and on Server too', () => {
    // @ts-expect-error takes a context: needs { context: true }
    channel.expose('copy', copy)
    // @ts-expect-error same, under fn.name
    channel.expose(copy)
    // @ts-expect-error same, with other options
    channel.expose('copy', copy, {})
    // @ts-expect-error same on a server
    server.expose('copy', copy)
    channel.expose('copy', copy, { context: true })
    server.expose(copy, { context: true })
  })

  test('{ context: true } on a handler whose first parameter is not a context is a type error', () => {
    // @ts-expect-error a number where the context comes
    channel.expose('plain', (a: number) => a, { context: true })
    channel.expose('plain', (a: number) => a)
    channel.expose('noArguments', () => 1, { context: true })
  })

  test('an inline handler with { context: true } gets its context typed', () => {
    channel.expose(
      'inline',
      (context, path: string) => {
        expectTypeOf(context.signal).toEqualTypeOf<AbortSignal>()
        expectTypeOf(context.channel).toEqualTypeOf<Channel>()
        return path
      },
      { context: true },
    )
  })
})

describe('expose<Api>(object): the exposing side checked against the interface the caller uses', () => {
  test('handlers may return the result or a promise of it; streams any async iterable; data is not required', () => {
    channel.expose<Api>({
      add: (a, b) => a + b,
      auth: { checkPassword: async (user, password) => user === password },
      async *count(to) {
        for (let i = 0; i < to; i++) yield i
      },
    })
    server.expose<Api>({
      add: async (a, b) => a + b,
      auth: { checkPassword: (user, password) => user === password },
      count: (to) =>
        (async function* () {
          yield to
        })(),
    })
  })

  test('a wrong result, missing function or namespace, or wrong parameters are type errors', () => {
    const rest = { auth: { checkPassword: async () => true }, count: async function* () {} }
    // @ts-expect-error a string where the result is a number
    channel.expose<Api>({ ...rest, add: (a: number, b: number) => String(a + b) })
    // @ts-expect-error add is missing
    channel.expose<Api>(rest)
    // @ts-expect-error the auth namespace is missing
    channel.expose<Api>({ add: (a: number, b: number) => a + b, count: rest.count })
    // @ts-expect-error parameters of the wrong type
    channel.expose<Api>({ ...rest, add: (a: string, b: string) => a.length + b.length })
  })

  test('Implementation<Api> names that type', () => {
    expectTypeOf<Implementation<Api>['add']>().toEqualTypeOf<(a: number, b: number) => number | PromiseLike<number>>()
    expectTypeOf<keyof Implementation<Api>>().toEqualTypeOf<'add' | 'auth' | 'count'>()
  })

  test('a plain object or a class instance without a type argument is taken as it is', () => {
    channel.expose({ anything: (x: unknown) => x, nested: { deeper: () => 1 } })
    class Files {
      @expose() read(path: string) {
        return path
      }
    }
    channel.expose(new Files())
  })
})

describe('@expose() (standard decorators; experimentalDecorators: see declarations.test.ts)', () => {
  test('a method that takes a CallContext needs { context: true }, and one that does not must not have it', () => {
    class Service {
      @expose({ context: true }) copy(context: CallContext, from: string) {
        return context.signal.aborted ? '' : from
      }
      @expose('renamed', { context: true }) other(context: CallContext) {
        return context.channel
      }
      @expose() plain(a: number) {
        return a
      }
      @expose({ context: true }) ignoresIt() {
        return 1
      }
    }
    void Service
    class Wrong {
      // @ts-expect-error takes a context without { context: true }
      @expose() copy(context: CallContext, from: string) {
        return context.signal.aborted ? '' : from
      }
      // @ts-expect-error { context: true } on a method whose first parameter is a number
      @expose({ context: true }) plain(a: number) {
        return a
      }
    }
    void Wrong
  })
})

describe('await using', () => {
  test('Server and the child link are AsyncDisposable', () => {
    expectTypeOf(server).toExtend<AsyncDisposable>()
    expectTypeOf(server[Symbol.asyncDispose]()).toEqualTypeOf<Promise<void>>()
    expectTypeOf<ChildLink>().toExtend<AsyncDisposable>()
    expectTypeOf(spawnChild('child.js')).resolves.toExtend<{ child: ChildProcess; channel: Channel } & AsyncDisposable>()
  })
})
