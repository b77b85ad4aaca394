/**
 * The `@expose()` method decorator, in both of TypeScript's flavours: standard (TC39) decorators, and
 * `experimentalDecorators` (NestJS, Angular, TypeORM projects). Either way it records the method in
 * the list that `expose(instance)` reads (registry.ts), and its types refuse a method that takes a
 * CallContext first without `{ context: true }`.
 */
import type { TakesContext } from './api-types.js'
import { kExposed, type DecoratedMethod, type ExposeOptions, type Handler } from './registry.js'

/** What `@expose()` says about a method that takes a CallContext first but has no `{ context: true }`. */
export interface ContextOptionMissingOnMethod {
  'this method takes a CallContext first: use @expose({ context: true })': never
}

/** What `@expose({ context: true })` says about a method whose first parameter is not a CallContext. */
export interface ContextParameterMissing {
  'this method does not take a CallContext first: drop { context: true }': never
}

/** The check of a decorated method `Fn`, for a decorator with (`true`) or without the context option. */
type Checked<Fn, Context extends boolean> = Context extends true
  ? Fn & (Fn extends () => unknown ? unknown : TakesContext<Fn> extends true ? unknown : ContextParameterMissing)
  : Fn & (TakesContext<Fn> extends true ? ContextOptionMissingOnMethod : unknown)

/**
 * What `@expose(...)` returns: a method decorator that TypeScript accepts with standard decorators
 * (`(method, context)`) and with `experimentalDecorators` (`(prototype, key, descriptor)`).
 * @typeParam Context whether the decorator was given `{ context: true }`.
 */
export interface ExposeDecorator<Context extends boolean> {
  <This, Fn extends Handler>(method: Checked<Fn, Context>, context: ClassMethodDecoratorContext<This, Fn>): void
  <Fn extends Handler>(prototype: object, key: string | symbol, descriptor: TypedPropertyDescriptor<Checked<Fn, Context>>): void
}

/**
 * Marks a class method as exposed when an instance is passed to `expose(instance)`: `@expose()` uses
 * the method's name, `@expose('publicName')` another name, and `@expose({ context: true })` or
 * `@expose('name', { context: true })` passes a CallContext first. Works with standard decorators and
 * with `experimentalDecorators`.
 * @throws TypeError (when the class is defined) on anything but an instance method, and on a
 *   symbol-named method without a name.
 */
export function expose(options: ExposeOptions & { context: true }): ExposeDecorator<true>
export function expose(name: string, options: ExposeOptions & { context: true }): ExposeDecorator<true>
export function expose(name?: string | (ExposeOptions & { context?: false }), options?: ExposeOptions & { context?: false }): ExposeDecorator<false>
export function expose(name?: string | ExposeOptions, options?: ExposeOptions): ExposeDecorator<boolean> {
  const ownOptions = (typeof name === 'object' ? name : options) ?? {}
  const publicNameOf = (key: PropertyKey): string => {
    const publicName = typeof name === 'string' ? name : typeof key === 'string' ? key : undefined
    if (!publicName) throw new TypeError('@expose() on a symbol-named method needs a name: @expose("name")')
    return publicName
  }
  return function (value: unknown, context: unknown, descriptor?: PropertyDescriptor): void {
    if (typeof context === 'object' && context !== null && 'kind' in context) {
      const standard = context as ClassMemberDecoratorContext
      if (standard.kind !== 'method') throw new TypeError(`@expose() applies to methods only, not to a ${standard.kind}`)
      if (standard.static) throw new TypeError('@expose() applies to instance methods only')
      const entry: DecoratedMethod = { method: standard.name, options: ownOptions }
      const publicName = publicNameOf(standard.name)
      standard.addInitializer(function (this: unknown) {
        record(this as object, publicName, entry)
      })
      return
    }
    // experimentalDecorators: (prototype, key, descriptor), or (constructor, key, descriptor) for a static.
    if (typeof context !== 'string' && typeof context !== 'symbol') throw new TypeError('@expose() applies to methods only')
    if (typeof descriptor?.value !== 'function') throw new TypeError('@expose() applies to methods only')
    if (typeof value === 'function') throw new TypeError('@expose() applies to instance methods only')
    record(value as object, publicNameOf(context), { method: context, options: ownOptions })
  } as ExposeDecorator<boolean>
}

/**
 * Adds a method to the list of `holder` (an instance, or a prototype), made on first use from the
 * list it inherits, so that a subclass's methods add to its base class's without changing them.
 */
function record(holder: object, publicName: string, entry: DecoratedMethod): void {
  const exposed = holder as { [kExposed]?: Map<string, DecoratedMethod> }
  if (!Object.hasOwn(holder, kExposed)) {
    Object.defineProperty(holder, kExposed, { value: new Map(exposed[kExposed] ?? []), enumerable: false })
  }
  exposed[kExposed]!.set(publicName, entry)
}
