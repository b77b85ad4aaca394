/**
 * Exposed names and how they were exposed: every form of `expose`, namespaces, what the `@expose()`
 * decorator (decorator.ts) recorded, and the lookup that finds only names that were exposed.
 */
import { isReservedName, MAX_DESCRIPTION, type MethodDescription } from '../protocol/introspection.js'

// Only its constructor is wanted: there is no global for it.
const AsyncGeneratorFunction = async function* () {}.constructor

/** Options for `expose`. */
export interface ExposeOptions {
  /**
   * Pass a {@link CallContext} as the handler's first argument.
   * @default false
   */
  context?: boolean
  /** One line on what the function does, answered to the peer's `describe()` (its first 1000 characters). */
  description?: string
}

/** Any function that can be exposed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (...args: any[]) => unknown

/** @internal One exposed name. */
export interface Registration {
  readonly fn: Handler
  readonly thisArg: unknown
  readonly context: boolean
  readonly description?: string | undefined
}

/**
 * Property under which `@expose()` records its methods: on an instance (standard decorators) or on
 * its class's prototype (`experimentalDecorators`); shared by every copy of the package.
 * @internal
 */
export const kExposed = Symbol.for('ipc-channel.exposed-methods')

/** @internal One method marked with `@expose()`: its property key and options. */
export interface DecoratedMethod {
  readonly method: PropertyKey
  readonly options: ExposeOptions
}

/**
 * How deep namespaces may nest below the object given to `expose(object)`: `a.b.c` is two levels
 * down. It bounds the walk, and a namespace that contains itself is refused before reaching it.
 */
export const MAX_NAMESPACE_DEPTH = 8

/**
 * Exposed names of one channel (or of a server, for all its channels). Backed by a Map, so only names
 * that were exposed are found: never `constructor`, `__proto__` or anything inherited. A namespace
 * (`expose({ auth: { check } })`) is its dotted names, `auth.check`, each an ordinary entry.
 * @internal
 */
export class Registry {
  readonly #entries = new Map<string, Registration>()

  get(name: string): Registration | undefined {
    return this.#entries.get(name)
  }

  /** How many names are exposed. */
  get size(): number {
    return this.#entries.size
  }

  /** The exposed names. */
  names(): IterableIterator<string> {
    return this.#entries.keys()
  }

  /**
   * Removes `name`, and every name of the namespace `name` (those starting with `name.`).
   * @returns whether anything was removed.
   */
  delete(name: string): boolean {
    let removed = this.#entries.delete(name)
    const prefix = `${name}.`
    for (const key of this.#entries.keys()) {
      if (key.startsWith(prefix)) removed = this.#entries.delete(key)
    }
    return removed
  }

  /** What `describe()` answers of these names, in the order they were exposed. */
  describe(): MethodDescription[] {
    const descriptions: MethodDescription[] = []
    for (const [name, { fn, context, description }] of this.#entries) {
      descriptions.push({
        name,
        ...(description === undefined ? undefined : { description: description.slice(0, MAX_DESCRIPTION) }),
        ...(context ? { context } : undefined),
        ...(fn instanceof AsyncGeneratorFunction ? { stream: true } : undefined),
        parameters: Math.max(0, fn.length - (context ? 1 : 0)),
      })
    }
    return descriptions
  }

  /** Implements every form of `expose`; see {@link Channel.expose}. */
  add(target: unknown, second?: unknown, third?: unknown): void {
    if (typeof target === 'string') {
      if (typeof second !== 'function') throw new TypeError(`expose(${JSON.stringify(target)}, fn): fn must be a function`)
      this.#set(target, second as Handler, undefined, third as ExposeOptions | undefined)
    } else if (typeof target === 'function') {
      if (!target.name) throw new TypeError('expose(fn): fn has no name; use expose(name, fn)')
      this.#set(target.name, target as Handler, undefined, second as ExposeOptions | undefined)
    } else if (typeof target === 'object' && target !== null) {
      // Collected first, so that an object refused halfway exposes nothing.
      const found = new Map<string, Registration>()
      if (!isPlain(target) && !decoratedOf(target)) {
        const className = (Object.getPrototypeOf(target) as { constructor?: { name?: string } }).constructor?.name ?? 'object'
        throw new TypeError(`expose(instance): ${className} has no methods marked with @expose()`)
      }
      collect(target, '', second as ExposeOptions | undefined, found, [])
      for (const [name, registration] of found) this.#set(name, registration.fn, registration.thisArg, registration)
    } else {
      throw new TypeError('expose() takes a function, a name and a function, or an object')
    }
  }

  #set(name: string, fn: Handler, thisArg: unknown, options: ExposeOptions | undefined): void {
    if (name.length === 0) throw new TypeError('expose: the name must not be empty')
    if (isReservedName(name)) throw new TypeError(`expose: ${JSON.stringify(name)}: names starting with '$' are reserved for the protocol`)
    const description = options?.description
    if (description !== undefined && typeof description !== 'string') throw new TypeError('expose: description must be a string')
    this.#entries.set(name, { fn, thisArg, context: options?.context === true, description })
  }
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** The methods an instance's class marked with `@expose()`, if any. */
function decoratedOf(value: object): Map<string, DecoratedMethod> | undefined {
  const decorated = (value as { [kExposed]?: Map<string, DecoratedMethod> })[kExposed]
  return decorated && decorated.size > 0 ? decorated : undefined
}

/**
 * Walks an exposed object: its own function properties under `prefix`; a property holding a plain
 * object, or an instance with `@expose()` methods, as a namespace one level down. Anything else
 * (data, arrays, Maps, instances without `@expose()` methods) is not callable and is passed over.
 * @param ancestors the objects being walked, outermost first: one seen again is a cycle.
 */
function collect(target: object, prefix: string, options: ExposeOptions | undefined, found: Map<string, Registration>, ancestors: object[]): void {
  const add = (name: string, fn: Handler, own?: ExposeOptions): void => {
    if (found.has(name)) throw new TypeError(`expose(object): ${JSON.stringify(name)} is exposed twice by this object`)
    found.set(name, { fn, thisArg: target, context: (own?.context ?? options?.context) === true })
  }
  const decorated = isPlain(target) ? undefined : decoratedOf(target)
  if (decorated) {
    for (const [name, { method, options: own }] of decorated) {
      const fn = (target as Record<PropertyKey, unknown>)[method]
      if (typeof fn === 'function') add(prefix + name, fn as Handler, own)
    }
    return
  }
  ancestors.push(target)
  for (const key of Object.keys(target)) {
    if (key.length === 0)
      throw new TypeError(`expose(object): ${prefix ? JSON.stringify(prefix.slice(0, -1)) : 'the object'} has a property with an empty name`)
    const value = (target as Record<string, unknown>)[key]
    const name = prefix + key
    if (typeof value === 'function') {
      add(name, value as Handler)
    } else if (typeof value === 'object' && value !== null && (isPlain(value) || decoratedOf(value))) {
      if (ancestors.includes(value)) {
        throw new TypeError(`expose(object): ${JSON.stringify(name)} refers back to an object that contains it; namespaces cannot be cyclic`)
      }
      if (ancestors.length > MAX_NAMESPACE_DEPTH) {
        throw new TypeError(`expose(object): ${JSON.stringify(name)} nests namespaces deeper than ${MAX_NAMESPACE_DEPTH} levels`)
      }
      collect(value, `${name}.`, options, found, ancestors)
    }
  }
  ancestors.pop()
}
