/**
 * This side's calls to the peer (PROTOCOL.md chapters 6-10, caller's half): ids, the table of calls
 * waiting for an answer, deadlines and abort signals, and settling each call from the peer's answer.
 * It is the owner every InProgress of the channel talks to.
 */
import { fromEnvelope, type ErrorClass } from '../protocol/fault.js'
import type { Payload } from '../protocol/framing.js'
import { ChannelClosedError, ProtocolError } from './errors.js'
import type { ReferenceTarget } from './incoming-calls.js'
import { InProgress, type CallOwner } from './in-progress.js'
import { describe, type CallOptions, type ResolvedOptions } from './options.js'
import { IdTable } from './id-map.js'

/** What the calls need from the channel; built by the channel as arrow functions. */
export interface OutgoingPorts {
  /**
   * The frame of call `id` of `target` (an exposed name, or a reference of the peer's).
   * @throws SerializationError when it cannot be encoded or exceeds the peer's limit; BufferFullError or
   *   ChannelClosedError when the outbox cannot take it.
   */
  encode(id: number, target: string | ReferenceTarget, args: readonly unknown[]): Payload
  /** Sends (or queues) the frame of call `id`. */
  send(payload: Payload, id: number): void
  /** Takes back an unsent call. @returns whether it had not been sent. */
  withdraw(id: number): boolean
  /** Tells the peer that this side gave up on a call it received. Only called while the channel is not ending. */
  cancel(id: number, reason: unknown): void
  /** Grants the peer `count` more items of stream `id`. Only called while connected. */
  credit(id: number, count: number): void
  /** The channel is connected. */
  connected(): boolean
  /** The channel is closing or closed. */
  ending(): boolean
}

/** Ids wrap below 2^31 so that they stay small integers on the wire and in every peer's maps. */
const MAX_ID = 0x7fffffff

type AnyCall = InProgress<unknown, unknown>

/** Where a call was made: an Error made there, and how many of its frames are the library's own. */
export interface CallSite {
  readonly error: Error
  readonly skip: number
}

/** The calls this side made and that have not settled. */
export class OutgoingCalls implements CallOwner {
  readonly streamWindow: number
  readonly #callTimeout: number | undefined
  readonly #errorClasses: ReadonlyMap<string, ErrorClass> | undefined
  readonly #ports: OutgoingPorts
  readonly #pending = new IdTable<AnyCall>()
  #nextId = 1
  /** Ids have wrapped around: a new id must skip ones still pending. */
  #wrapped = false
  /** This side asked the peer to report its failed notifications: the only way one may arrive. */
  readonly #notifyErrors: boolean
  #notificationsFailed = 0
  /** Where each call was made: with the `callSites` option only, else undefined. */
  readonly #sites: WeakMap<AnyCall, CallSite> | undefined

  constructor(options: Pick<ResolvedOptions, 'streamWindow' | 'errorClasses' | 'callTimeout' | 'callSites' | 'notifyErrors'>, ports: OutgoingPorts) {
    this.streamWindow = options.streamWindow
    this.#callTimeout = options.callTimeout
    if (options.callSites) this.#sites = new WeakMap()
    this.#notifyErrors = options.notifyErrors
    this.#errorClasses = options.errorClasses
    this.#ports = ports
  }

  /** Calls waiting for their answer. */
  get size(): number {
    return this.#pending.size
  }

  /**
   * Notifications of this side that the peer reported as failed (the `notifyErrors` option), as
   * `channel.stats()` reports them.
   */
  get notificationsFailed(): number {
    return this.#notificationsFailed
  }

  /**
   * The peer reports that a notification of `name` failed there: counted, and rebuilt as an Error whose
   * stack ends with the notification's name, as a failed call's does.
   * @throws ProtocolError when this side did not ask for such reports.
   */
  notifyFailed(name: string, envelope: unknown): Error {
    if (!this.#notifyErrors) throw new ProtocolError('a notify-failed message, which this side did not ask for')
    this.#notificationsFailed++
    const rebuilt = fromEnvelope(envelope, this.#errorClasses)
    const error = rebuilt instanceof Error ? rebuilt : new Error(`notification ${JSON.stringify(name)} failed on the peer`, { cause: rebuilt })
    if (typeof error.stack === 'string') {
      const stack = `${error.stack}\n    at remote notify ${JSON.stringify(name)} (ipc-channel)`
      Object.defineProperty(error, 'stack', { value: stack, writable: true, configurable: true, enumerable: false })
    }
    return error
  }

  /**
   * Makes a call of `target` (an exposed name, or a reference of the peer's), named `label` in its
   * errors: a signal that already aborted rejects it at once and nothing is sent; otherwise it is
   * encoded and sent (or queued), pending from then on, and armed with its deadline and signal.
   * @param frames this library's frames on the stack from here up to the caller's, this one included:
   *   what a call site (the `callSites` option) leaves out.
   */
  start<T, Item, Progress = unknown>(
    target: string | ReferenceTarget,
    label: string,
    args: readonly unknown[],
    options: CallOptions | undefined,
    frames = 1,
  ): InProgress<T, Item, Progress> {
    // Checked here rather than left to the peer, which would close the connection on the malformed call.
    if (typeof label !== 'string' || !Array.isArray(args) || !isDeadline(options?.timeout)) {
      const call = new InProgress<T, Item, Progress>(undefined, 0, String(label))
      call.reject(misuse(label, args, options?.timeout))
      return call
    }
    const signal = options?.signal
    if (signal?.aborted) {
      const call = new InProgress<T, Item, Progress>(undefined, 0, label)
      call.abort(signal.reason)
      return call
    }
    const id = this.nextId()
    const call = new InProgress<T, Item, Progress>(this, id, label)
    if (this.#ports.ending()) {
      call.reject(new ChannelClosedError(`cannot call ${JSON.stringify(label)}: the channel is closed`))
      return call
    }
    let payload: Payload
    try {
      payload = this.#ports.encode(id, target, args)
    } catch (error) {
      call.reject(error)
      return call
    }
    this.#pending.set(id, call as AnyCall)
    // A stack trace per call: only with the option, never on the default path.
    if (this.#sites !== undefined) this.#sites.set(call as AnyCall, { error: new Error(), skip: frames })
    this.#ports.send(payload, id)
    this.arm(call, options?.timeout ?? this.#callTimeout, signal)
    return call
  }

  nextId(): number {
    let id = this.#nextId
    if (this.#wrapped) while (this.#pending.has(id)) id = id >= MAX_ID ? 1 : id + 1
    if (id >= MAX_ID) {
      this.#nextId = 1
      this.#wrapped = true
    } else {
      this.#nextId = id + 1
    }
    return id
  }

  /** Tracks a call that is about to be sent (or queued): from now on an answer settles it. */
  add(id: number, call: AnyCall): void {
    this.#pending.set(id, call)
  }

  /** Arms a call's deadline and abort signal, once it was sent. */
  arm<T, Item, Progress>(call: InProgress<T, Item, Progress>, timeout: number | undefined, signal: AbortSignal | undefined): void {
    if (timeout !== undefined) void call.timeout(timeout)
    if (signal) {
      const onAbort = (): void => call.abort(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      call.onSettled = () => signal.removeEventListener('abort', onAbort)
    }
  }

  // Answers from the peer. Unknown ids are late answers to calls given up on (abort, timeout): dropped.

  resolve(id: number, value: unknown): void {
    const call = this.#pending.get(id)
    if (call) {
      this.#pending.delete(id)
      call.resolve(value)
    }
  }

  /** The call failed on the peer: rejects it with the error rebuilt from `envelope`. */
  reject(id: number, envelope: unknown): void {
    const call = this.#pending.get(id)
    if (call) {
      this.#pending.delete(id)
      const site = this.#sites?.get(call)
      call.rejectFromPeer(fromEnvelope(envelope, this.#errorClasses), site?.error, site?.skip ?? 0)
    }
  }

  progress(id: number, value: unknown): void {
    this.#pending.get(id)?.progress(value)
  }

  /** @returns false when the peer sent more items than its credit allows: a protocol violation. */
  item(id: number, value: unknown): boolean {
    const call = this.#pending.get(id)
    return call === undefined || call.item(value)
  }

  end(id: number): void {
    const call = this.#pending.get(id)
    if (call) {
      this.#pending.delete(id)
      call.end()
    }
  }

  /**
   * Rejects every pending call with `error`, except those in `keep` (unsent calls that wait for the next
   * connection).
   */
  rejectAll(error: ChannelClosedError, keep?: ReadonlySet<number>): void {
    if (this.#pending.size === 0) return
    for (const [id, call] of [...this.#pending]) {
      if (keep?.has(id)) continue
      this.#pending.delete(id)
      call.reject(error)
    }
  }

  /** CallOwner: the caller gave up on call `id`. */
  cancelCall(id: number, reason: unknown): void {
    if (!this.#pending.delete(id) || this.#ports.ending()) return
    // A call still queued was never sent: it is taken back instead of telling the peer.
    if (!this.#ports.withdraw(id)) this.#ports.cancel(id, reason)
  }

  /** CallOwner: the consumer of stream `id` accepts `count` more items. */
  grantCredit(id: number, count: number): void {
    if (this.#ports.connected() && this.#pending.has(id)) this.#ports.credit(id, count)
  }
}

/** A call's timeout: none, or milliseconds from 0 up. */
function isDeadline(ms: unknown): boolean {
  return ms === undefined || (typeof ms === 'number' && ms >= 0)
}

/** What is wrong with a call made by name, told in the caller's terms. */
function misuse(name: unknown, args: unknown, timeout: unknown): Error {
  if (typeof name !== 'string') return new TypeError(`a method name must be a string, not ${describe(name)}`)
  if (!Array.isArray(args)) {
    return new TypeError(
      `call() takes the arguments as an array, not ${describe(args)}: call(${JSON.stringify(name)}, [a, b], options), or rpc(${JSON.stringify(name)}, a, b)`,
    )
  }
  return new RangeError(`timeout must be a number of milliseconds from 0 up, not ${describe(timeout)}`)
}
