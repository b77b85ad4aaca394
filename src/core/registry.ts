/**
 * Exposed names and how they were exposed: every form of `expose`, what the `@expose()` decorator
 * (decorator.ts) recorded, and the lookup that finds only names that were exposed.
 */

/** Options for `expose`. */
export interface ExposeOptions {
  /**
   * Pass a {@link CallContext} as the handler's first argument.
   * @default false
   */
  context?: boolean
}

/** Any function that can be exposed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (...args: any[]) => unknown

/** @internal One exposed name. */
export interface Registration {
  readonly fn: Handler
  readonly thisArg: unknown
  readonly context: boolean
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
 * Exposed names of one channel (or of a server, for all its channels). Backed by a Map, so only names
 * that were exposed are found: never `constructor`, `__proto__` or anything inherited.
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

  delete(name: string): boolean {
    return this.#entries.delete(name)
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
      this.#addObject(target, second as ExposeOptions | undefined)
    } else {
      throw new TypeError('expose() takes a function, a name and a function, or an object')
    }
  }

  #addObject(target: object, options: ExposeOptions | undefined): void {
    const proto = Object.getPrototypeOf(target)
    if (proto === Object.prototype || proto === null) {
      for (const key of Object.keys(target)) {
        const value = (target as Record<string, unknown>)[key]
        if (typeof value === 'function') this.#set(key, value as Handler, target, options)
      }
      return
    }
    // A class instance: only what its class marked with @expose() is exposed.
    const decorated = (target as { [kExposed]?: Map<string, DecoratedMethod> })[kExposed]
    if (!decorated || decorated.size === 0) {
      const className = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'object'
      throw new TypeError(`expose(instance): ${className} has no methods marked with @expose()`)
    }
    for (const [name, { method, options: own }] of decorated) {
      const fn = (target as Record<PropertyKey, unknown>)[method]
      if (typeof fn === 'function') this.#set(name, fn as Handler, target, { ...options, ...own })
    }
  }

  #set(name: string, fn: Handler, thisArg: unknown, options: ExposeOptions | undefined): void {
    if (name.length === 0) throw new TypeError('expose: the name must not be empty')
    this.#entries.set(name, { fn, thisArg, context: options?.context === true })
  }
}
