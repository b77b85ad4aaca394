/**
 * Every error this library makes. Each has a stable string `code`. `instanceof` also holds for an
 * error made by another copy of the package (two versions in one process, or an error that came back
 * from a peer), through a brand registered with `Symbol.for`.
 */

const kBrand = Symbol.for('ipc-channel.error-classes')
const kRemote = Symbol.for('ipc-channel.remote-error')

type Branded = { [kBrand]?: readonly string[]; [kRemote]?: true }

function isObject(value: unknown): value is Record<PropertyKey, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null
}

/** Base class of every error this library makes. */
export class IpcError extends Error {
  /** Stable machine-readable identifier, e.g. `ERR_CHANNEL_CLOSED`. */
  readonly code: string

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
    // The class names of the chain, so `instanceof` works across copies of the package: kept on the
    // class's prototype, made once per class, since calls given up on in bulk make errors in bulk.
    const prototype = new.target.prototype as Branded
    if (!Object.hasOwn(prototype, kBrand)) {
      const names: string[] = []
      for (let proto: object = new.target; proto && proto !== Error; proto = Object.getPrototypeOf(proto) as object) {
        names.push((proto as { name: string }).name)
      }
      Object.defineProperty(prototype, kBrand, { value: Object.freeze(names), enumerable: false })
    }
  }

  /**
   * `instanceof` also recognises an error made by another copy of this package (two versions in one
   * application, or one bundled twice): the class names travel with the instance.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true
    // A class's prototype carries the brand but is no instance (it has its own `constructor`); an
    // instance from another copy of the package reads the brand from its prototype, or its own.
    if (!isObject(value) || Object.hasOwn(value, 'constructor')) return false
    const brand = (value as Branded)[kBrand]
    return Array.isArray(brand) && brand.includes(this.name)
  }
}

/** The channel closed (locally, by the peer, or because the connection died) before the call settled. */
export class ChannelClosedError extends IpcError {
  constructor(message = 'channel closed', options?: { cause?: unknown }) {
    super(message, 'ERR_CHANNEL_CLOSED', options)
  }
}

/** A call, a handshake or a heartbeat took longer than allowed. */
export class TimeoutError extends IpcError {
  constructor(message = 'timed out', options?: { cause?: unknown }) {
    super(message, 'ERR_TIMEOUT', options)
  }
}

/** The call was aborted by the caller. `cause` holds the abort reason, if one was given. */
export class AbortError extends IpcError {
  constructor(message = 'the call was aborted', options?: { cause?: unknown }) {
    super(message, 'ABORT_ERR', options)
  }
}

/** The peer failed the secret handshake, or one side has a secret and the other has none. */
export class AuthenticationError extends IpcError {
  constructor(message = 'authentication failed', options?: { cause?: unknown }) {
    super(message, 'ERR_AUTHENTICATION', options)
  }
}

/** The peer has exposed nothing under the called name. */
export class MethodNotFoundError extends IpcError {
  /** The name that was called. */
  readonly method: string

  /** @param options `message` replaces the default, `method not found: "<method>"`. */
  constructor(method: string, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? `method not found: ${JSON.stringify(method)}`, 'ERR_METHOD_NOT_FOUND', options)
    this.method = method
  }
}

/** The peer broke the wire protocol: bad magic or version, malformed frame, oversized frame. */
export class ProtocolError extends IpcError {
  constructor(message = 'protocol error', options?: { cause?: unknown }) {
    super(message, 'ERR_PROTOCOL', options)
  }
}

/** A value could not be encoded (a cycle, a function, a symbol) or decoded. */
export class SerializationError extends IpcError {
  constructor(message = 'value cannot be serialized', options?: { cause?: unknown }) {
    super(message, 'ERR_SERIALIZATION', options)
  }
}

/** The peer is not reading and the outgoing buffer reached `maxBufferedBytes`: the call was not sent. */
export class BufferFullError extends IpcError {
  constructor(message = 'the outgoing buffer is full', options?: { cause?: unknown }) {
    super(message, 'ERR_BUFFER_FULL', options)
  }
}

/**
 * A call through a reference that was released: this side disposed of its stub
 * (`stub[Symbol.dispose]()`), or the peer no longer exports what the stub stands for.
 */
export class ReferenceReleasedError extends IpcError {
  constructor(message = 'the reference was released', options?: { cause?: unknown }) {
    super(message, 'ERR_REFERENCE_RELEASED', options)
  }
}

/**
 * An exception thrown by the peer. Errors that came back from the peer satisfy `instanceof RemoteError`
 * whatever their class: a remote `TypeError` is a real `TypeError` and also a RemoteError. A remote error
 * whose class is neither built in nor registered through the `errors` option is an instance of this
 * class, carrying the remote `name`.
 */
export class RemoteError extends IpcError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_REMOTE', options)
    markRemote(this)
  }

  /** `instanceof RemoteError` holds for every error rebuilt from the peer's, whatever its own class. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isObject(value) && (value as Branded)[kRemote] === true
  }
}

/** The classes whose instances {@link isLibraryError} recognises: RemoteError stands for an application error. */
const LIBRARY_CLASS_NAMES = new Set([
  'IpcError',
  'ChannelClosedError',
  'TimeoutError',
  'AbortError',
  'AuthenticationError',
  'MethodNotFoundError',
  'ProtocolError',
  'SerializationError',
  'BufferFullError',
  'ReferenceReleasedError',
])

/**
 * Whether `value` is an error this library made (or one of its classes rebuilt from a peer, or made by
 * another copy of the package): an instance of exactly one of its classes, told by the brand. Not a
 * RemoteError (an application error of the peer) and not an application's subclass of a library class.
 */
export function isLibraryError(value: unknown): boolean {
  if (!isObject(value)) return false
  const names = (value as Branded)[kBrand]
  return Array.isArray(names) && LIBRARY_CLASS_NAMES.has(names[0] as string)
}

/** Marks an error as having come from the peer, so that `instanceof RemoteError` holds for it. */
export function markRemote(error: object): void {
  Object.defineProperty(error, kRemote, { value: true, enumerable: false, configurable: true })
}
