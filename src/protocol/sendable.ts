/**
 * What may not be sent as data, and where it was: the objects that cbor-x would write without a word
 * as `{}` or as part of themselves (a Promise, a URL, a class instance whose state is in private
 * fields or getters, a DataView), or refuse with a message that names nothing (a generator), and the
 * path to such a value in a message's data (`args[1].when`), for the SerializationError the sender
 * gets. Consulted on the general path of the codec only: the fast path takes no such object.
 */
import { SerializationError } from './errors.js'

/** A call, for the name of what failed: an exposed name, or a reference and its member. */
export type CallTarget = string | { readonly ref: number; readonly member: string | null }

/** Thrown by the walk at the first value that cannot travel; the codec turns it into a SerializationError. */
export class Unsendable extends Error {
  readonly value: object
  constructor(value: object, why: string) {
    super(why)
    this.value = value
  }
}

/** Getter names listed in a message, at most. */
const LISTED_GETTERS = 3

/**
 * Why `value`, an object that is neither plain data (an array, a plain object, a Map, a Set, a Date, a
 * RegExp, an Error, binary) nor a reference, cannot travel; undefined when it can: a class instance
 * with public data fields only arrives as a plain object of them.
 */
export function whyUnsendable(value: object): string | undefined {
  const name = className(value)
  if (typeof (value as { then?: unknown }).then === 'function') return `${article(name)} is not sendable; await it first`
  if (typeof URL === 'function' && value instanceof URL) return 'URL is not sendable; send url.href'
  if (typeof URLSearchParams === 'function' && value instanceof URLSearchParams) return 'URLSearchParams is not sendable; send params.toString()'
  const tag = Object.prototype.toString.call(value)
  if (tag === '[object Generator]') return 'a generator object is not sendable; send Array.from(it)'
  if (tag === '[object AsyncGenerator]') return 'an async generator object is not sendable; collect its items first (for await)'
  if (Symbol.iterator in value) return `${name} is iterable, and only arrays travel as lists; send Array.from(it)`
  if (Symbol.asyncIterator in value) return `${name} is async iterable, which does not travel; collect its items first (for await)`
  const getters = gettersOf(value)
  if (getters.length > 0) {
    const shown = getters.slice(0, LISTED_GETTERS).join(', ') + (getters.length > LISTED_GETTERS ? ', ...' : '')
    return `${name} is not sendable: its getters (${shown}) would not travel; send a plain object`
  }
  if (Object.keys(value).length === 0) {
    return `${name} is not sendable: it would arrive as {} (private fields and getters do not travel); send a plain object`
  }
  return undefined
}

/** Why a DataView cannot travel (cbor-x writes it as `{}`). */
export const DATA_VIEW = 'DataView is not sendable; send new Uint8Array(view.buffer, view.byteOffset, view.byteLength)'

/** The names of the getters of `value`'s classes, below Object.prototype. */
function gettersOf(value: object): string[] {
  const names: string[] = []
  for (
    let proto = Object.getPrototypeOf(value) as object | null;
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)
      if (descriptor?.get !== undefined && !names.includes(key)) names.push(key)
    }
  }
  return names
}

function className(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === 'string' && name !== '' ? name : 'an object of an anonymous class'
}

function article(name: string): string {
  return name.startsWith('an object') ? name : /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`
}

/** The SerializationError for `failure`, found in `data`: the application data of a message, called `root`. */
export function unsendableError(failure: Unsendable, data: unknown, root: string): SerializationError {
  const path = pathTo(data, failure.value, 0, new Set())
  return new SerializationError(`${root}${path ?? ''}: ${failure.message}`)
}

/** What a message's data is called in an error: `args` of a call, `the result of "name"`, ... */
export function rootName(kind: 'args' | 'result' | 'item' | 'progress', target: CallTarget | undefined): string {
  if (kind === 'args') return 'args'
  const of =
    target === undefined
      ? ''
      : ` of ${typeof target === 'string' ? JSON.stringify(target) : `reference ${target.ref}${target.member === null ? '' : `.${target.member}`}`}`
  return kind === 'result' ? `the result${of}` : kind === 'item' ? `a stream item${of}` : `a progress value${of}`
}

/** The path from `data` to `offender`, walking what the codec walks; undefined when not found. */
function pathTo(data: unknown, offender: object, depth: number, seen: Set<object>): string | undefined {
  if (data === offender) return ''
  if (typeof data !== 'object' || data === null || depth > 64 || seen.has(data)) return undefined
  seen.add(data)
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      const found = pathTo(data[i], offender, depth + 1, seen)
      if (found !== undefined) return `[${i}]${found}`
    }
    return undefined
  }
  if (data instanceof Map) {
    for (const [key, member] of data) {
      const inKey = pathTo(key, offender, depth + 1, seen)
      if (inKey !== undefined) return `.<a key of the Map>${inKey}`
      const found = pathTo(member, offender, depth + 1, seen)
      if (found !== undefined) return `.get(${keyName(key)})${found}`
    }
    return undefined
  }
  if (data instanceof Set) {
    for (const member of data) {
      const found = pathTo(member, offender, depth + 1, seen)
      if (found !== undefined) return `.<a member of the Set>${found}`
    }
    return undefined
  }
  for (const key of Object.keys(data)) {
    const found = pathTo((data as Record<string, unknown>)[key], offender, depth + 1, seen)
    if (found !== undefined) return `${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}${found}`
  }
  return undefined
}

function keyName(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key)
  if (typeof key === 'number' || typeof key === 'boolean' || typeof key === 'bigint') return String(key)
  return '...'
}
