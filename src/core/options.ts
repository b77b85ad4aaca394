/**
 * Channel options: what a user may set (ChannelOptions, CallOptions), every default, and the resolved,
 * read-only form the parts of a channel read. Options are resolved once, when the channel is made.
 */
import { errorClassMap, type ErrorClass } from '../protocol/fault.js'
import { MAX_REFERENCES, MAX_STREAM_WINDOW, MIN_FRAME_SIZE } from '../protocol/messages.js'
import { secretBytes } from './handshake.js'
import type { TraceFunction } from './trace.js'

/** Options shared by every kind of channel, server and client. */
export interface ChannelOptions {
  /**
   * Shared secret. When set, both sides prove knowledge of it (HMAC-SHA256 challenge-response) before
   * anything else is accepted; a side with a secret refuses a peer without one and vice versa.
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
  /** Error classes to rebuild as themselves when the peer throws them (matched by class name). */
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
  heartbeat?: false | { interval?: number; timeout?: number }
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
   */
  trace?: TraceFunction
}

/** Per-call options of {@link Channel.call}. */
export interface CallOptions {
  /** Aborting this signal aborts the call, as `InProgress.abort(signal.reason)` does. */
  signal?: AbortSignal
  /** Deadline in milliseconds, as `InProgress.timeout(ms)`; overrides the channel's `callTimeout`. */
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
}

/**
 * Fills in the defaults and checks what cannot work.
 * @throws TypeError for an empty secret; RangeError for a streamWindow that is not a whole number from
 *   1 to 65536, a maxFrameSize that is not a whole number of at least 1024, or a maxReferences that is
 *   not a whole number from 0 to 2^31-1.
 */
export function resolveOptions(options: ChannelOptions): ResolvedOptions {
  const streamWindow = options.streamWindow ?? DEFAULTS.streamWindow
  // A whole number: the peer ignores any other window in the hello and would assume the default.
  if (!Number.isSafeInteger(streamWindow) || streamWindow < 1 || streamWindow > MAX_STREAM_WINDOW) {
    throw new RangeError(`streamWindow must be a whole number from 1 to ${MAX_STREAM_WINDOW}`)
  }
  const maxFrameSize = frameSizeOf(options)
  // A whole number, like the window: the peer ignores any other limit in the hello.
  if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < MIN_FRAME_SIZE) {
    throw new RangeError(`maxFrameSize must be a whole number of at least ${MIN_FRAME_SIZE}`)
  }
  const maxReferences = options.maxReferences ?? DEFAULTS.maxReferences
  // Announced in the hello, where the peer takes only a whole number.
  if (!Number.isSafeInteger(maxReferences) || maxReferences < 0 || maxReferences > MAX_REFERENCES) {
    throw new RangeError(`maxReferences must be a whole number from 0 to ${MAX_REFERENCES}`)
  }
  const heartbeat = options.heartbeat
  return Object.freeze({
    secret: secretBytes(options.secret),
    errorClasses: errorClassMap(options.errors),
    maxFrameSize,
    handshakeTimeout: options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
    callTimeout: options.callTimeout,
    streamWindow,
    heartbeat:
      heartbeat === false
        ? false
        : { interval: heartbeat?.interval ?? DEFAULTS.heartbeat.interval, timeout: heartbeat?.timeout ?? DEFAULTS.heartbeat.timeout },
    maxHandshakeBytes: options.maxHandshakeBytes ?? DEFAULTS.maxHandshakeBytes,
    maxConcurrentCalls: options.maxConcurrentCalls ?? DEFAULTS.maxConcurrentCalls,
    maxWaitingCalls: options.maxWaitingCalls ?? DEFAULTS.maxWaitingCalls,
    maxBufferedBytes: options.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes,
    maxQueuedCalls: options.maxQueuedCalls ?? DEFAULTS.maxQueuedCalls,
    maxReferences,
    sendStacks: options.sendStacks ?? true,
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

/** The largest frame a link accepts for these options: what byte-stream transports are built with. */
export function frameSizeOf(options: { readonly maxFrameSize?: number }): number {
  return options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
}
