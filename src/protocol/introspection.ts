/**
 * Introspection on the wire (PROTOCOL.md section 18): the `describe` feature, the reserved method that
 * answers it, and the shape of its answer.
 */

/** The hello feature of an endpoint that answers {@link DESCRIBE_METHOD}. */
export const DESCRIBE_FEATURE = 'describe'

/**
 * The method a describe() call names. Names starting with `$` are reserved for the protocol: expose()
 * refuses them, so that this one can never be an application's function.
 */
export const DESCRIBE_METHOD = '$describe'

/** Whether `name` is reserved for the protocol. */
export function isReservedName(name: string): boolean {
  return name.charCodeAt(0) === 0x24 // '$'
}

/** One function the peer exposes, as `channel.describe()` returns it. */
export interface MethodDescription {
  /** The name to call it by. */
  readonly name: string
  /** What `expose(name, fn, { description })` said of it. */
  readonly description?: string
  /** The handler takes a CallContext first (it was exposed with `{ context: true }`). */
  readonly context?: boolean
  /** The handler is an async generator function: its calls stream. */
  readonly stream?: boolean
  /** Parameters the handler declares (its `length`, without the context). */
  readonly parameters?: number
}

/** Longest description answered, in characters: a description is a line of help, not a document. */
export const MAX_DESCRIPTION = 1000
