/**
 * Channel options: what a user may set (ChannelOptions, CallOptions), every default, and the resolved,
 * read-only form the parts of a channel read. Options are resolved once, when the channel is made.
 */
import { errorClassMap, type ErrorClass } from '../protocol/fault.js'
import { MAX_REFERENCES, MAX_STREAM_WINDOW, MIN_FRAME_SIZE } from '../protocol/messages.js'
import { secretBytes } from './handshake.js'
import type { TraceFunction } from './trace.js'
import { closestName } from './suggest.js'

/** Options shared by every kind of channel, server and client. */
export interface ChannelOptions {
  /**
   * Shared secret. When set, both sides prove knowledge of it (HMAC-SHA256 challenge-response) before
   * anything else is accepted; a side with a secret refuses a peer without one and vice versa.
   * @default undefined (no authentication)
   */
  secret?: string | Uint8Array
  /**
   * Largest frame accepted, in bytes, checked from the length prefix before anything is allocated.
   * @default 67108864 (64 MiB)
   */
  maxFrameSize?: number
  /**
   * Milliseconds the opening handshake (hello and auth) may take before the connection is dropped.
   * @default 10000
   */
  handshakeTimeout?: number
  /**
   * Default deadline, in milliseconds, applied to every outgoing call; `InProgress.timeout()` overrides
   * it per call. Off by default: a call may legitimately take a day.
   * @default undefined
   */
  callTimeout?: number
  /**
   * Error classes to rebuild as themselves when the peer throws them (matched by class name). The
   * built-in classes (TypeError, ...) and this library's are rebuilt anyway; any other arrives as a
   * RemoteError carrying the remote `name`.
   * @default []
   */
  errors?: readonly ErrorClass[]
  /**
   * Items a peer's stream may send to this side before this side grants more credit.
   * @default 64
   */
  streamWindow?: number
  /**
   * Liveness check. Every `interval` ms each side pings; when nothing at all has arrived from the peer
   * for `timeout` ms (a hung or stopped process), the channel closes and pending calls reject.
   * `false` turns it off. A handler may run for any time: pings are answered by the receiving loop,
   * which only a process blocked in synchronous code for longer than `timeout` cannot run.
   * @default { interval: 5000, timeout: 15000 }
   */
  heartbeat?: false | HeartbeatOptions
  /**
   * Bytes an unauthenticated peer may send before the handshake completes.
   * @default 65536
   */
  maxHandshakeBytes?: number
  /**
   * Incoming calls whose handlers may run at once on this channel; further calls wait, in order.
   * @default 1024
   */
  maxConcurrentCalls?: number
  /**
   * Incoming calls that may wait for a handler slot (see maxConcurrentCalls); a call beyond that is
   * answered at once with BufferFullError, so a peer cannot make this side hold unbounded arguments.
   * @default 1024
   */
  maxWaitingCalls?: number
  /**
   * Bytes of outgoing frames this side holds while the peer does not read (or before the connection is
   * up). A call or notification that would exceed it fails with BufferFullError instead of growing
   * memory without bound.
   * @default 67108864 (64 MiB)
   */
  maxBufferedBytes?: number
  /**
   * Send the stack of an error a handler throws to the caller, as the remote error's `stack`. Errors
   * this library makes itself (method not found, buffer full, ...) never carry one. A stack shows the
   * peer this process's file paths and code structure: turn this off for peers you do not trust,
   * typically over TCP.
   * @default true
   */
  sendStacks?: boolean
  /**
   * Calls and notifications held while not connected (before the handshake, or while a client
   * reconnects); more reject with ChannelClosedError.
   * @default 1024
   */
  maxQueuedCalls?: number
  /**
   * References (functions, `ref()` objects, AbortSignals passed by reference) this side exports on a
   * connection at once, and imports from the peer at once; each side announces its own, and exports
   * no more than the peer's. A call that would export more fails with SerializationError; a peer that
   * exports more closes the connection with ProtocolError. `0` turns references off: the feature is
   * not announced, and a function in a call fails with SerializationError as with a peer without it.
   * A stub the peer dropped is released at the peer's next full garbage collection, which a process
   * that allocates little may not run for a long time: the bound leaves room for that lag, and a
   * handler that is done with a stub can dispose it at once (`using`). An import costs this side
   * about 430 bytes, an export about 200.
   * @default 100000
   */
  maxReferences?: number
  /**
   * Answer the peer's `describe()` with the names exposed here (and their descriptions). With `false`
   * the feature is not announced and describe() from the peer fails with MethodNotFoundError.
   * @default true
   */
  introspection?: boolean
  /**
   * Called with one TraceEvent per frame sent or received, on the frame's path (keep it quick;
   * a throw is reported as an `error` event). On Node, `NODE_DEBUG=ipc-channel` prints the same
   * events to stderr for every channel that has no `trace` of its own. Without either, tracing costs
   * nothing.
   * @default undefined (on Node with `NODE_DEBUG=ipc-channel`, the printer to stderr)
   */
  trace?: TraceFunction
  /**
   * Record where each outgoing call is made, and add those frames to the stack of an error the peer
   * answers it with, below the remote frames and the `at remote call "name"` line that such an error
   * always gets. It captures a stack trace per call (measured in the README), so it is off by default:
   * turn it on while debugging.
   * @default false
   */
  callSites?: boolean
  /**
   * Ask the peer (in the hello) to report each notification of this side that fails there: a name it
   * has not exposed, a handler that threw, one dropped beyond its `maxWaitingCalls`. Each report is
   * emitted as an `error` event on this side, rebuilt as the peer's error, and counted. The peer still
   * reports it on its own `error` event too. A peer that does not know the option ignores it.
   * @default false
   */
  notifyErrors?: boolean
}

/** The heartbeat of {@link ChannelOptions.heartbeat}. */
export interface HeartbeatOptions {
  /**
   * Milliseconds between pings.
   * @default 5000
   */
  interval?: number
  /**
   * Milliseconds without anything from the peer after which the connection is declared lost.
   * @default 15000
   */
  timeout?: number
}

/** Per-call options of {@link Channel.call}. */
export interface CallOptions {
  /** Aborting this signal aborts the call, as `InProgress.abort(signal.reason)` does. */
  signal?: AbortSignal
  /**
   * Deadline in milliseconds, as `InProgress.timeout(ms)`; overrides the channel's `callTimeout`.
   * @default the channel's `callTimeout`
   */
  timeout?: number
}

/** Default for {@link ChannelOptions.maxFrameSize}. */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024

/** Every default, in one place; the JSDoc of ChannelOptions states the same numbers. */
export const DEFAULTS = Object.freeze({
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  handshakeTimeout: 10_000,
  streamWindow: 64,
  heartbeat: Object.freeze({ interval: 5000, timeout: 15_000 }),
  maxHandshakeBytes: 64 * 1024,
  maxConcurrentCalls: 1024,
  maxWaitingCalls: 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxQueuedCalls: 1024,
  maxReferences: 100_000,
})

/** ChannelOptions with every default filled in and the secret and error classes in their working form. */
export interface ResolvedOptions {
  readonly secret: Uint8Array | undefined
  readonly errorClasses: ReadonlyMap<string, ErrorClass> | undefined
  readonly maxFrameSize: number
  readonly handshakeTimeout: number
  readonly callTimeout: number | undefined
  readonly streamWindow: number
  readonly heartbeat: false | { readonly interval: number; readonly timeout: number }
  readonly maxHandshakeBytes: number
  readonly maxConcurrentCalls: number
  readonly maxWaitingCalls: number
  readonly maxBufferedBytes: number
  readonly maxQueuedCalls: number
  readonly maxReferences: number
  readonly sendStacks: boolean
  readonly introspection: boolean
  readonly trace: TraceFunction | undefined
  readonly callSites: boolean
  readonly notifyErrors: boolean
}

/** The names of {@link ChannelOptions}: any other name given to a constructor is refused. */
export const CHANNEL_OPTION_NAMES = Object.freeze([
  'secret',
  'maxFrameSize',
  'handshakeTimeout',
  'callTimeout',
  'errors',
  'streamWindow',
  'heartbeat',
  'maxHandshakeBytes',
  'maxConcurrentCalls',
  'maxWaitingCalls',
  'maxBufferedBytes',
  'sendStacks',
  'maxQueuedCalls',
  'maxReferences',
  'callSites',
  'notifyErrors',
  'introspection',
  'trace',
] as const satisfies readonly (keyof ChannelOptions)[])

// Every option has its name in the list: a new one left out would be refused as unknown.
const allNamed: Exclude<keyof ChannelOptions, (typeof CHANNEL_OPTION_NAMES)[number]> extends never ? true : never = true
void allNamed

/**
 * Refuses an option name that `owner` does not take, such as `secrett`, which would otherwise be
 * ignored and show only later, as a failure that names something else. Options set to `undefined` count
 * as absent, but their names must still be right.
 * @throws TypeError naming the unknown option, the closest known one, and every known one.
 */
export function checkOptionNames(options: object, accepted: readonly string[], owner: string): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${owner}: options must be an object, not ${describe(options)}`)
  for (const key of Object.keys(options)) {
    if (accepted.includes(key)) continue
    const close = closestName(key, accepted)
    throw new TypeError(
      `${owner}: unknown option ${JSON.stringify(key)}${close ? ` (did you mean ${JSON.stringify(close)}?)` : ''}. ` +
        `The options are: ${accepted.join(', ')}`,
    )
  }
}

/**
 * Fills in the defaults and checks the type and range of every option, so that a mistake fails where
 * the channel is made rather than later, somewhere else.
 * @throws TypeError for an option of the wrong type (a number as `secret`) or an empty secret;
 *   RangeError for a number out of its range (a streamWindow that is not a whole number from 1 to 65536,
 *   a maxFrameSize below 1024, a maxReferences that is not a whole number from 0 to 2^31-2, a negative
 *   timeout).
 */
export function resolveOptions(options: ChannelOptions): ResolvedOptions {
  const secret = options.secret
  if (secret !== undefined && typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
    // Never the value itself: it is a secret.
    throw new TypeError(`secret must be a string or a Uint8Array, not ${kindOf(secret)}`)
  }
  const streamWindow = options.streamWindow ?? DEFAULTS.streamWindow
  // A whole number: the peer ignores any other window in the hello and would assume the default.
  if (!Number.isSafeInteger(streamWindow) || streamWindow < 1 || streamWindow > MAX_STREAM_WINDOW) {
    throw new RangeError(`streamWindow must be a whole number from 1 to ${MAX_STREAM_WINDOW}, not ${describe(streamWindow)}`)
  }
  const maxFrameSize = frameSizeOf(options)
  // A whole number, like the window: the peer ignores any other limit in the hello.
  if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < MIN_FRAME_SIZE) {
    throw new RangeError(`maxFrameSize must be a whole number of at least ${MIN_FRAME_SIZE}, not ${describe(maxFrameSize)}`)
  }
  const errors = options.errors
  if (errors !== undefined && !(Array.isArray(errors) && errors.every((cls) => typeof cls === 'function'))) {
    throw new TypeError(`errors must be an array of error classes, not ${describe(errors)}`)
  }
  if (options.trace !== undefined && typeof options.trace !== 'function') {
    throw new TypeError(`trace must be a function, not ${describe(options.trace)}`)
  }
  for (const name of ['sendStacks', 'callSites', 'notifyErrors', 'introspection'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean')
      throw new TypeError(`${name} must be a boolean, not ${describe(options[name])}`)
  }
  const maxReferences = options.maxReferences ?? DEFAULTS.maxReferences
  if (typeof maxReferences !== 'number') throw new TypeError(`maxReferences must be a number, not ${describe(maxReferences)}`)
  // Announced in the hello, where the peer takes only a whole number.
  if (!Number.isSafeInteger(maxReferences) || maxReferences < 0 || maxReferences > MAX_REFERENCES) {
    throw new RangeError(`maxReferences must be a whole number from 0 to ${MAX_REFERENCES}, not ${describe(maxReferences)}`)
  }
  return Object.freeze({
    secret: secretBytes(secret),
    errorClasses: errorClassMap(errors),
    maxFrameSize,
    handshakeTimeout: milliseconds('handshakeTimeout', options.handshakeTimeout, DEFAULTS.handshakeTimeout, false),
    callTimeout: options.callTimeout === undefined ? undefined : milliseconds('callTimeout', options.callTimeout, 0, true),
    streamWindow,
    heartbeat: resolveHeartbeat(options.heartbeat),
    maxHandshakeBytes: limit('maxHandshakeBytes', options.maxHandshakeBytes, DEFAULTS.maxHandshakeBytes, 1),
    maxConcurrentCalls: limit('maxConcurrentCalls', options.maxConcurrentCalls, DEFAULTS.maxConcurrentCalls, 1),
    maxWaitingCalls: limit('maxWaitingCalls', options.maxWaitingCalls, DEFAULTS.maxWaitingCalls, 0),
    maxBufferedBytes: limit('maxBufferedBytes', options.maxBufferedBytes, DEFAULTS.maxBufferedBytes, 0),
    maxQueuedCalls: limit('maxQueuedCalls', options.maxQueuedCalls, DEFAULTS.maxQueuedCalls, 0),
    maxReferences,
    sendStacks: options.sendStacks ?? true,
    callSites: options.callSites ?? false,
    notifyErrors: options.notifyErrors ?? false,
    introspection: options.introspection ?? true,
    trace: options.trace ?? defaultTrace,
  })
}

let defaultTrace: TraceFunction | undefined

/**
 * @internal Sets the trace of every channel made from now on without a `trace` option: how the Node
 * entry point honours `NODE_DEBUG=ipc-channel` without core reading the environment.
 */
export function setDefaultTrace(trace: TraceFunction | undefined): void {
  defaultTrace = trace
}

function resolveHeartbeat(heartbeat: ChannelOptions['heartbeat']): ResolvedOptions['heartbeat'] {
  if (heartbeat === false) return false
  if (heartbeat === undefined) return DEFAULTS.heartbeat
  if (typeof heartbeat !== 'object' || heartbeat === null) {
    throw new TypeError(`heartbeat must be false or { interval, timeout }, not ${describe(heartbeat)}`)
  }
  checkOptionNames(heartbeat, ['interval', 'timeout'], 'heartbeat')
  return {
    interval: milliseconds('heartbeat.interval', heartbeat.interval, DEFAULTS.heartbeat.interval, false),
    timeout: milliseconds('heartbeat.timeout', heartbeat.timeout, DEFAULTS.heartbeat.timeout, false),
  }
}

/** A duration option: a finite number of milliseconds, above 0 (or from 0 where `zero` allows it). */
export function milliseconds(name: string, value: unknown, fallback: number, zero: boolean): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, not ${describe(value)}`)
  if (!Number.isFinite(value) || (zero ? value < 0 : value <= 0)) {
    throw new RangeError(`${name} must be a finite number of milliseconds ${zero ? 'from 0' : 'above 0'}, not ${value}`)
  }
  return value
}

/** A count or size limit: a whole number from `min` up, or Infinity for none. */
function limit(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, not ${describe(value)}`)
  if (!(Number.isSafeInteger(value) || value === Infinity) || value < min) {
    throw new RangeError(`${name} must be a whole number of at least ${min} (or Infinity), not ${value}`)
  }
  return value
}

/** A value as an error message shows it: short, with its type. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `the ${typeof value} ${String(value)}`
  return kindOf(value)
}

/** The kind of a value, without the value: `a number`, `null`, `an array`, `a Map`. */
function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name
    return name && name !== 'Object' ? `a ${name}` : 'an object'
  }
  return typeof value === 'undefined' ? 'undefined' : /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`
}

/** The largest frame a link accepts for these options: what byte-stream transports are built with. */
export function frameSizeOf(options: { readonly maxFrameSize?: number }): number {
  return options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
}
