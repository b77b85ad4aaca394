/**
 * What a reference looks like on each side: `ref()` and the token it makes (the sending side), the
 * stubs that stand for a peer's function, object or AbortSignal (the receiving side). Their types are in
 * api-types.ts; the tables that give stubs their ids and lifetimes are in references.ts.
 */
import type { Ref } from './api-types.js'
import type { InProgress } from './in-progress.js'
import { Registry, type ExposeOptions, type Handler, type Registration } from './registry.js'

/** @internal A `ref()` token: the target and how it is called, checked when `ref()` is called. */
export class RefToken {
  readonly target: object
  /** How a call reaches a function target. */
  readonly registration: Registration | undefined
  /** The callable members of an object target, by the rule of `expose(object)`. */
  readonly members: Registry | undefined

  constructor(target: object, options: ExposeOptions | undefined) {
    this.target = target
    if (typeof target === 'function') {
      this.registration = { fn: target as Handler, thisArg: undefined, context: options?.context === true }
      this.members = undefined
    } else if (imported.has(target)) {
      // A stub, which travels by reference anyway: its members are looked up on it when called.
      this.registration = undefined
      this.members = undefined
    } else {
      this.registration = undefined
      const members = new Registry()
      members.add(target, options)
      this.members = members
    }
  }
}

/**
 * Passes `target` by reference. A function travels by reference anyway; `ref(fn, { context: true })`
 * also hands it a CallContext (signal, progress) as its first argument. An object's callable members
 * follow the rule of `expose(object)`: a plain object's own function properties, a class instance's
 * `@expose()` methods.
 * @throws TypeError for a class instance without `@expose()` methods, or a target that is not an
 *   object or a function.
 */
export function ref<T extends object>(target: T, options?: ExposeOptions): Ref<T> {
  if ((typeof target !== 'object' && typeof target !== 'function') || target === null) {
    throw new TypeError('ref() takes an object or a function')
  }
  if (target instanceof RefToken) return target as unknown as Ref<T>
  return new RefToken(target, options) as unknown as Ref<T>
}

/** @internal What a stub needs from the tables that imported it. */
export interface StubOwner {
  /** Calls import `entry` (its `member`, or itself when null). */
  call(entry: ImportEntry, member: string | null, args: unknown[]): InProgress<unknown, unknown>
  /** Releases import `entry` at once. Idempotent. */
  dispose(entry: ImportEntry): void
}

/** @internal One reference received from the peer: its id, what stands for it here, and how often it arrived. */
export interface ImportEntry {
  readonly owner: StubOwner
  readonly id: number
  readonly kind: 0 | 1 | 2
  /** Times the peer sent it since this side last released it: what a release gives back. */
  count: number
  /** Disposed, or collected: its calls reject, and it cannot be sent back. */
  released: boolean
  /** The stub or the AbortSignal, held weakly so that it can be collected. */
  target: WeakRef<object>
}

/** An entry's target while its stub is being made. */
const EMPTY = new WeakRef({})

/** @internal Whether `value` is an AbortSignal (of this realm; there is no other way to tell one). */
export const isAbortSignal = (value: object): value is AbortSignal => typeof AbortSignal === 'function' && value instanceof AbortSignal

/** Every stub and imported AbortSignal of the process, to its entry: how one is recognised when sent. */
const imported = new WeakMap<object, ImportEntry>()
/** The controller of each imported AbortSignal, alive exactly as long as its signal. */
const controllers = new WeakMap<AbortSignal, AbortController>()

/** @internal The import entry `value` stands for, if it is a stub or an imported AbortSignal. */
export function importOf(value: object): ImportEntry | undefined {
  return imported.get(value)
}

/** `stub[Symbol.dispose]`, shared by every stub: releases the stub it is called on. */
function disposeStub(this: unknown): void {
  const entry = typeof this === 'object' || typeof this === 'function' ? imported.get(this as object) : undefined
  entry?.owner.dispose(entry)
}

/** The prototype of function stubs: a function's, with `Symbol.dispose`. */
const FUNCTION_STUB: object = Object.create(Function.prototype, { [Symbol.dispose]: { value: disposeStub } })

/** The prototype of an object stub's target: what `Object.getPrototypeOf(stub)` gives. */
class ObjectStub {}

/** Names an object stub never calls: what is inherited, and what code probes without meaning a call. */
const NOT_MEMBERS = new Set([...Object.getOwnPropertyNames(Object.prototype), 'then', 'toJSON'])

/** @internal Makes the stub of a function (kind 0) or an object (kind 1) and records it under `entry`'s target. */
export function makeStub(owner: StubOwner, id: number, kind: 0 | 1, count: number): { stub: object; entry: ImportEntry } {
  const entry: ImportEntry = { owner, id, kind, count, released: false, target: EMPTY }
  let stub: object
  if (kind === 0) {
    const call = (...args: unknown[]): InProgress<unknown, unknown> => owner.call(entry, null, args)
    // Symbol.dispose from a shared prototype: an own property would cost each stub a dictionary.
    Object.setPrototypeOf(call, FUNCTION_STUB)
    stub = call
  } else {
    const members = new Map<string, (...args: unknown[]) => InProgress<unknown, unknown>>()
    // Of a class of its own, not a plain object, so that the walk that sends values asks what it is.
    stub = new Proxy(Object.create(ObjectStub.prototype) as object, {
      get: (_target, key) => {
        if (key === Symbol.dispose) return disposeStub
        if (typeof key !== 'string' || NOT_MEMBERS.has(key)) return undefined
        let member = members.get(key)
        if (member === undefined) {
          member = (...args: unknown[]) => owner.call(entry, key, args)
          members.set(key, member)
        }
        return member
      },
      // Nothing but members can be read: a stub is not a place to keep data.
      set: () => false,
      defineProperty: () => false,
    })
  }
  entry.target = new WeakRef(stub)
  imported.set(stub, entry)
  return { stub, entry }
}

/** @internal Makes the AbortSignal standing for the peer's signal `id` (kind 2). */
export function makeSignal(owner: StubOwner, id: number, count: number): { signal: AbortSignal; entry: ImportEntry } {
  const controller = new AbortController()
  const signal = controller.signal
  controllers.set(signal, controller)
  const entry: ImportEntry = { owner, id, kind: 2, count, released: false, target: new WeakRef(signal) }
  imported.set(signal, entry)
  return { signal, entry }
}

/** @internal Aborts an imported AbortSignal, if it is still alive. */
export function abortImported(entry: ImportEntry, reason: unknown): void {
  const signal = entry.target.deref() as AbortSignal | undefined
  if (signal !== undefined) controllers.get(signal)?.abort(reason)
}

/** @internal A call through a forwarded object stub: the member is looked up when called, on the stub itself. */
export function forwardedMember(stub: object, member: string): Registration {
  return { fn: (...args: unknown[]) => (stub as Record<string, Handler>)[member](...args), thisArg: undefined, context: false }
}
