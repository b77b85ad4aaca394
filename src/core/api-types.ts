/**
 * The types that hold both ends of an API to one interface, in one place: `Remote<T>` (what the
 * caller's proxy offers), `Implementation<T>` (what `expose<T>(object)` accepts), what values become
 * when they cross (`Ref`, `Stub`, `Remoted`, `Local`), and the checks that catch a handler taking a
 * CallContext exposed without `{ context: true }` (generic over the context type). Types only: nothing
 * here names the Channel class, so that channel.ts and stubs.ts can both use them without a cycle.
 */
import type { InProgress } from './in-progress.js'

/* eslint-disable @typescript-eslint/no-explicit-any -- function types that accept any parameters */

type AnyFunction = (...args: any[]) => unknown

/**
 * What the object forms of `expose` take: any object but a function (a function has
 * `Symbol.hasInstance`), so that a handler refused by the function forms is not taken as an object.
 */
export interface NotAFunction {
  readonly [Symbol.hasInstance]?: never
}

/**
 * The shape every CallContext has, whatever its progress type: enough to tell a handler's context
 * parameter from an ordinary argument.
 */
export interface ContextLike {
  readonly channel: object
  readonly signal: AbortSignal
  progress(value: never): void
}

/** Values that travel as data: a property holding one is neither a function nor a namespace. */
type Data =
  | Date
  | RegExp
  | ReadonlyMap<unknown, unknown>
  | ReadonlySet<unknown>
  | readonly unknown[]
  | ArrayBufferView
  | ArrayBufferLike
  | Error
  | PromiseLike<unknown>

/** Levels of namespaces the types follow, as `expose(object)` does at run time (MAX_NAMESPACE_DEPTH). */
type Depth = [never, 0, 1, 2, 3, 4, 5, 6, 7, 8]

/**
 * The keys of `T` that the peer can call through: those holding a function, and those holding a
 * namespace (an object with such keys, at most 8 levels down). Data properties and `then` are left out.
 */
export type ExposedKeys<T, D extends number = 8> = Exclude<
  { [K in keyof T]-?: IsExposed<NonNullable<T[K]>, D> extends true ? K : never }[keyof T],
  'then'
>

type IsExposed<V, D extends number> = V extends AnyFunction
  ? true
  : V extends Data
    ? false
    : V extends object
      ? [D] extends [never]
        ? false
        : [ExposedKeys<V, Depth[D]>] extends [never]
          ? false
          : true
      : false

/** True when `P`, a first parameter, is a call context (not when it is `any`). */
type IsContext<P> = 0 extends 1 & P ? false : [P] extends [ContextLike] ? true : false

/** True when the handler `F` takes a call context as its first parameter. */
export type TakesContext<F> = F extends (first: infer P, ...rest: any[]) => unknown ? IsContext<P> : false

/** A handler's parameters as the caller passes them: without a leading call context. */
export type CallerParameters<A extends unknown[]> = A extends [infer First, ...infer Rest] ? (IsContext<First> extends true ? Rest : A) : A

/** The progress type of a handler whose parameters are `A`: what its context's `progress` takes. */
export type ProgressOf<A extends unknown[]> = A extends [infer First, ...unknown[]]
  ? IsContext<First> extends true
    ? First extends { progress(value: infer P): void }
      ? P
      : unknown
    : unknown
  : unknown

/** What `expose` says about a handler that takes a CallContext first but is exposed without the option. */
export interface ContextOptionMissing {
  'this handler takes a CallContext first: expose it with { context: true }': never
}

/** A handler given to `expose` without `{ context: true }`: a type error when it takes a CallContext first. */
export type PlainHandler<F> = F & (TakesContext<F> extends true ? ContextOptionMissing : unknown)

/**
 * Maps an interface of remote functions to what calling them returns: each method returns an
 * InProgress of its awaited result; async generators become streams that can be iterated or awaited
 * as an array. A leading CallContext parameter (handlers exposed with `{ context: true }`) is dropped,
 * and its progress type becomes the call's. Functions in arguments travel by reference ({@link Local});
 * functions and `Ref`s in the result arrive as stubs ({@link Remoted}). A property holding an object
 * with methods is a namespace: `remote<{ auth: { check(pw: string): boolean } }>().auth.check(pw)`
 * calls `auth.check`.
 */
export type Remote<T> = {
  [K in keyof T as K extends ExposedKeys<T> ? K : never]-?: NonNullable<T[K]> extends (...args: infer A) => infer R
    ? (...args: CallerArgs<A>) => RemoteReturn<R, ProgressOf<A>>
    : Remote<NonNullable<T[K]>>
}

/**
 * What a call to a function returning `R` gives the caller: the items of a stream, or the awaited
 * value, with functions and `Ref`s in them as stubs; `Progress` is what its progress values are.
 */
export type RemoteReturn<R, Progress = unknown> =
  R extends AsyncIterable<infer Item>
    ? InProgress<Remoted<Item>[], Remoted<Item>, Progress>
    : InProgress<Remoted<Awaited<R>>, Remoted<Awaited<R>>, Progress>

/** What calling a stub of a function that returns `R` gives the caller: as {@link RemoteReturn}. */
export type StubReturn<R> = RemoteReturn<R>

/**
 * The arguments a caller passes to a function taking `A`: without a leading call context; functions
 * (which travel by reference) may return promises, and be stubs.
 */
export type CallerArgs<A extends unknown[]> = CallerParameters<A> extends infer P extends unknown[] ? { [K in keyof P]: Local<P[K]> } : never

declare const refTarget: unique symbol

/**
 * What `ref(target)` returns: `target`, marked to travel by reference. Sent in a call, a result, a
 * stream item or a progress value, it arrives on the other side as a {@link Stub} of `T`.
 */
export interface Ref<T extends object> {
  /** Type only: the object or function this stands for. */
  readonly [refTarget]: T
}

/** What the peer's value of type `T` is on this side: functions and `Ref`s become stubs, at any depth. */
export type Remoted<T> =
  T extends Ref<infer O>
    ? Stub<O>
    : T extends string | number | boolean | bigint | symbol | null | undefined | Date | RegExp | Error | ArrayBuffer | ArrayBufferView
      ? T
      : T extends AnyFunction
        ? Stub<T>
        : T extends Map<infer K, infer V>
          ? Map<Remoted<K>, Remoted<V>>
          : T extends Set<infer M>
            ? Set<Remoted<M>>
            : T extends readonly unknown[]
              ? { [K in keyof T]: Remoted<T[K]> }
              : T extends object
                ? { [K in keyof T]: Remoted<T[K]> }
                : T

/**
 * What this side may pass where the peer expects a `T`: the same value, where a function may return
 * a promise (its result travels back either way) and receives what the peer passes it as stubs. A
 * stub of the same signature fits too. (One function type, not a union with the stub's, so that an
 * arrow function passed there has its parameters typed.)
 */
export type Local<T> =
  T extends Ref<infer O>
    ? Ref<O> | Stub<O>
    : T extends (...args: infer A) => infer R
      ? (...args: { [K in keyof A]: Remoted<A[K]> }) => R | PromiseLike<Awaited<R>>
      : T

/**
 * A peer's function or `ref()` object on this side. A function stub returns an InProgress for the
 * original's result, which runs in the peer; an object stub has the object's callable members, each
 * doing the same. As with {@link Remote}, a leading CallContext parameter (`ref(fn, { context: true })`)
 * is the peer's to supply. `stub[Symbol.dispose]()` releases it at once; a stub that is garbage
 * collected is released too; either way the peer may then drop what it stands for. All stubs die with
 * their connection.
 */
export type Stub<T> = (T extends (...args: infer A) => infer R
  ? (...args: CallerArgs<A>) => RemoteReturn<R, ProgressOf<A>>
  : {
      readonly [K in keyof T as NonNullable<T[K]> extends AnyFunction ? K : never]-?: NonNullable<T[K]> extends (...args: infer A) => infer R
        ? (...args: CallerArgs<A>) => RemoteReturn<R, ProgressOf<A>>
        : never
    }) &
  Disposable

/**
 * What implements the interface `T` on the exposing side, for `expose<T>(object)`: the functions and
 * namespaces of `T`, each function taking the same parameters (functions among them arrive as stubs)
 * and returning its result or a promise of it (a stream: any async iterable of its items). Data
 * properties of `T` are not required.
 */
export type Implementation<T> = {
  [K in keyof T as K extends ExposedKeys<T> ? K : never]: NonNullable<T[K]> extends (...args: infer A) => infer R
    ? (...args: { [P in keyof A]: Remoted<A[P]> }) => R extends AsyncIterable<infer Item> ? AsyncIterable<Item> : Awaited<R> | PromiseLike<Awaited<R>>
    : Implementation<NonNullable<T[K]>>
}
