/**
 * The error envelope: how a thrown value crosses the wire and is rebuilt on the other side with its
 * name, message, own properties, cause chain and remote stack.
 */
import {
  AbortError,
  AuthenticationError,
  BufferFullError,
  ChannelClosedError,
  IpcError,
  MethodNotFoundError,
  ProtocolError,
  ReferenceReleasedError,
  RemoteError,
  SerializationError,
  TimeoutError,
  isLibraryError,
  markRemote,
} from './errors.js'
import type { ErrorEnvelope, ErrorObjectEnvelope } from './messages.js'

/** A class that can be registered with the `errors` option to be rebuilt on this side. */
export type ErrorClass = abstract new (...args: never[]) => Error

/** Causes deeper than this are cut, which also ends a cycle of causes. */
const MAX_DEPTH = 32
/** Errors (causes and AggregateError members together) converted for one envelope at most. */
const MAX_ERRORS = 1000

/** Keys carried in dedicated envelope fields, never among `props`. */
const RESERVED_KEYS = new Set(['name', 'message', 'stack', 'cause', 'errors'])

/**
 * Names a received prop may not take, besides those the rebuilt error inherits (see {@link isSafeProp}):
 * the dedicated fields, and members that code calls or tests without checking their type (`then` makes
 * an object a thenable, `toJSON` changes JSON.stringify).
 */
const UNSAFE_PROPS = new Set([...RESERVED_KEYS, '__proto__', 'constructor', 'toString', 'toLocaleString', 'valueOf', 'toJSON', 'then'])

/**
 * Built-in classes that come back as themselves. A null-prototype object, so that a remote name like
 * `constructor` or `__proto__` can never select anything.
 */
const BUILT_IN: Record<string, ErrorClass> = Object.assign(Object.create(null) as Record<string, ErrorClass>, {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
})

/** This library's own classes, rebuilt through their constructors so that their brand is set. */
const LIBRARY: Record<string, (message: string, props: Record<string, unknown>) => IpcError> = Object.assign(
  Object.create(null) as Record<string, (message: string, props: Record<string, unknown>) => IpcError>,
  {
    ChannelClosedError: (message: string) => new ChannelClosedError(message),
    TimeoutError: (message: string) => new TimeoutError(message),
    AbortError: (message: string) => new AbortError(message),
    AuthenticationError: (message: string) => new AuthenticationError(message),
    ProtocolError: (message: string) => new ProtocolError(message),
    SerializationError: (message: string) => new SerializationError(message),
    BufferFullError: (message: string) => new BufferFullError(message),
    ReferenceReleasedError: (message: string) => new ReferenceReleasedError(message),
    MethodNotFoundError: (message: string, props: Record<string, unknown>) =>
      new MethodNotFoundError(typeof props.method === 'string' ? props.method : '', { message }),
  },
)

function isError(value: unknown): value is Error {
  // Errors from another realm (a worker, a vm context) fail `instanceof Error`.
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]'
}

/** How {@link toEnvelope} writes an envelope. */
export interface EnvelopeOptions {
  /**
   * Whether application errors carry their stack traces (a channel's `sendStacks` option); default
   * true. Errors this library made ({@link isLibraryError}) never carry theirs, whatever this says:
   * their stacks show only this library's internals and this process's file paths.
   */
  stacks?: boolean
}

/**
 * Turns a thrown value into an envelope.
 * @param canEncode when given, property values (and thrown non-Error values) that it rejects are left
 *   out; the channel passes it on a second attempt after the plain envelope failed to encode.
 */
export function toEnvelope(thrown: unknown, canEncode?: (value: unknown) => boolean, options?: EnvelopeOptions): ErrorEnvelope {
  return envelopeOf(thrown, canEncode, options?.stacks ?? true, 0, { left: MAX_ERRORS })
}

function envelopeOf(
  thrown: unknown,
  canEncode: ((value: unknown) => boolean) | undefined,
  stacks: boolean,
  depth: number,
  budget: { left: number },
): ErrorEnvelope {
  budget.left--
  if (!isError(thrown)) {
    if (canEncode && !canEncode(thrown)) {
      return envelopeOf(new SerializationError(`thrown value cannot be serialized: ${describe(thrown)}`), undefined, stacks, depth, budget)
    }
    return { type: 'value', value: thrown }
  }
  const envelope: ErrorObjectEnvelope = {
    type: 'error',
    name: typeof thrown.name === 'string' ? thrown.name : 'Error',
    message: typeof thrown.message === 'string' ? thrown.message : String(thrown.message),
  }
  const className = (thrown as { constructor?: { name?: unknown } }).constructor?.name
  if (typeof className === 'string' && className !== envelope.name && className !== '') envelope.class = className
  if (stacks && typeof thrown.stack === 'string' && !isLibraryError(thrown)) envelope.stack = thrown.stack
  let props: Record<string, unknown> | undefined
  for (const key of Object.keys(thrown)) {
    if (RESERVED_KEYS.has(key)) continue
    const value = (thrown as unknown as Record<string, unknown>)[key]
    if (typeof value === 'function' || typeof value === 'symbol') continue
    if (canEncode && !canEncode(value)) continue
    props ??= {}
    props[key] = value
  }
  if (props) envelope.props = props
  if (depth < MAX_DEPTH && budget.left > 0) {
    if (Object.hasOwn(thrown, 'cause')) envelope.cause = envelopeOf(thrown.cause, canEncode, stacks, depth + 1, budget)
    const errors = (thrown as { errors?: unknown }).errors
    if (Array.isArray(errors)) {
      envelope.errors = []
      for (const member of errors) {
        if (budget.left <= 0) break
        envelope.errors.push(envelopeOf(member, canEncode, stacks, depth + 1, budget))
      }
    }
  }
  return envelope
}

/**
 * The envelope without stack traces, for what this side sends about its own state (a cancel reason):
 * the peer needs the name and message, not this process's file paths.
 */
export function withoutStacks(envelope: ErrorEnvelope): ErrorEnvelope {
  if (envelope.type !== 'error') return envelope
  const { stack: _stack, cause, errors, ...rest } = envelope
  const stripped: ErrorObjectEnvelope = rest
  if (cause) stripped.cause = withoutStacks(cause)
  if (errors) stripped.errors = errors.map(withoutStacks)
  return stripped
}

/**
 * Rebuilds a thrown value from an envelope. Errors come back as their built-in, library or registered
 * class, else as {@link RemoteError} with the remote name; all are marked so `instanceof RemoteError`
 * holds. A malformed envelope becomes a ProtocolError rather than a crash.
 */
export function fromEnvelope(envelope: unknown, registered?: ReadonlyMap<string, ErrorClass>): unknown {
  return rebuild(envelope, registered, 0, { left: MAX_ERRORS })
}

function rebuild(envelope: unknown, registered: ReadonlyMap<string, ErrorClass> | undefined, depth: number, budget: { left: number }): unknown {
  budget.left--
  if (!isRecord(envelope)) return new ProtocolError('malformed error envelope')
  if (envelope.type === 'value') return envelope.value
  if (envelope.type !== 'error') return new ProtocolError('malformed error envelope')
  const name = typeof envelope.name === 'string' ? envelope.name : 'Error'
  const message = typeof envelope.message === 'string' ? envelope.message : ''
  const props = isRecord(envelope.props) ? envelope.props : {}

  let error: Error
  const custom = (typeof envelope.class === 'string' ? registered?.get(envelope.class) : undefined) ?? registered?.get(name)
  const library = LIBRARY[name]
  const builtIn = BUILT_IN[name]
  if (custom) {
    // The class's own constructor is not run: its parameters are unknown to us. Reflect.construct gives
    // a real Error object whose prototype is the registered class.
    error = Reflect.construct(Error, [message], custom) as Error
  } else if (library) {
    error = library(message, props)
  } else if (builtIn) {
    error = Reflect.construct(Error, [message], builtIn) as Error
  } else {
    error = new RemoteError(message)
  }
  define(error, 'name', name, false)
  define(error, 'stack', typeof envelope.stack === 'string' ? envelope.stack : `${name}: ${message}`, false)
  for (const key of Object.keys(props)) if (isSafeProp(error, key, props[key])) define(error, key, props[key], true)
  if (depth < MAX_DEPTH && budget.left > 0) {
    if ('cause' in envelope) define(error, 'cause', rebuild(envelope.cause, registered, depth + 1, budget), false)
    if (Array.isArray(envelope.errors)) {
      const errors: unknown[] = []
      for (const member of envelope.errors) {
        if (budget.left <= 0) break
        errors.push(rebuild(member, registered, depth + 1, budget))
      }
      define(error, 'errors', errors, false)
    }
  }
  markRemote(error)
  return error
}

/**
 * Whether a received prop may become an own property of the rebuilt error: not one of
 * {@link UNSAFE_PROPS}, and not a member its class or Error or Object inherit (`toString`, `name`, a
 * registered class's methods and accessors), so that a peer cannot make `String(error)` throw or
 * `error.name` an object. A field the constructor set (`code`, `method`) may be replaced, as the
 * protocol's `props.code` is meant to, by a value of the same type only.
 */
function isSafeProp(error: Error, key: string, value: unknown): boolean {
  if (UNSAFE_PROPS.has(key)) return false
  if (Object.hasOwn(error, key)) return typeof (error as unknown as Record<string, unknown>)[key] === typeof value
  return !(key in error)
}

function define(target: object, key: string, value: unknown, enumerable: boolean): void {
  // defineProperty, not assignment: a key like `__proto__` becomes a plain own property, never a setter call.
  Object.defineProperty(target, key, { value, enumerable, writable: true, configurable: true })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`
  if (typeof value === 'symbol') return value.toString()
  return Object.prototype.toString.call(value)
}

/** Builds the name-to-class map for the `errors` option. */
export function errorClassMap(classes: readonly ErrorClass[] | undefined): ReadonlyMap<string, ErrorClass> | undefined {
  if (!classes || classes.length === 0) return undefined
  const map = new Map<string, ErrorClass>()
  for (const cls of classes) {
    map.set(cls.name, cls)
    const protoName = (cls.prototype as { name?: unknown }).name
    if (typeof protoName === 'string' && protoName !== 'Error') map.set(protoName, cls)
  }
  return map
}
