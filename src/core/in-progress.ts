/**
 * InProgress, what every call returns: its settlement, abort and deadline, progress listeners, the
 * item queue of a stream and its credit, and how a failure nobody observed reaches the platform's
 * unhandled-rejection report.
 */
import pDefer, { type DeferredPromise } from 'p-defer'
import { AbortError, TimeoutError } from './errors.js'

const PENDING = 0
const FULFILLED = 1
const REJECTED = 2

const noop = (): void => {}

/**
 * What an InProgress needs from the channel that made it.
 * @internal
 */
export interface CallOwner {
  /** The caller gave up on call `id` (abort, timeout, a loop left early): forget it and tell the peer. */
  cancelCall(id: number, reason: unknown): void
  /** The consumer of stream `id` accepts `count` more items. */
  grantCredit(id: number, count: number): void
  /** Items a stream may send before it needs more credit, as announced to the peer. */
  readonly streamWindow: number
}

/** Stream bookkeeping, made only for calls that stream. */
interface StreamState {
  /** Items received and not yet handed to an iterator (or collected). */
  queue: unknown[]
  /** 'collect': awaited as a whole; 'iterate': consumed by `for await`; undecided until one of them. */
  mode: 'undecided' | 'collect' | 'iterate'
  /** Items collected for an awaited stream. */
  collected: unknown[]
  /** Items consumed since credit was last granted. */
  unacknowledged: number
  /** `next()` calls waiting for an item, oldest first: the protocol allows several in flight. */
  waiters: DeferredPromise<IteratorResult<unknown>>[]
  ended: boolean
  /** A call that did not stream has handed its result to the iterator as its single item. */
  resultTaken: boolean
}

/**
 * A call in progress. Await it (it is a thenable, not a Promise subclass) for the remote result, or
 * iterate it with `for await` to consume a streaming call's items with backpressure. The remote
 * exception, if any, is rethrown locally.
 *
 * @typeParam T the result: for a streaming call, the array of its items.
 * @typeParam Item the type of the items yielded when iterating.
 * @typeParam Progress the type of the progress values the handler reports.
 */
export class InProgress<T = unknown, Item = unknown, Progress = unknown> implements PromiseLike<T>, AsyncIterable<Item> {
  #state: typeof PENDING | typeof FULFILLED | typeof REJECTED = PENDING
  #value: unknown = undefined
  #deferred: DeferredPromise<T> | undefined
  #progressListeners: ((value: unknown) => void)[] | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #stream: StreamState | undefined
  readonly #owner: CallOwner | undefined
  readonly #id: number
  readonly #method: string
  /** @internal Run once when the call settles: the channel detaches an AbortSignal listener here. */
  onSettled: (() => void) | undefined

  /** @internal */
  constructor(owner: CallOwner | undefined, id: number, method: string) {
    this.#owner = owner
    this.#id = id
    this.#method = method
  }

  /** True once the call has settled, successfully or not. */
  get finished(): boolean {
    return this.#state !== PENDING
  }

  /** True once the call has settled with an error. Reading it then counts as handling the failure. */
  get failed(): boolean {
    if (this.#state !== REJECTED) return false
    this.#handled()
    return true
  }

  /** The result once the call has finished successfully; undefined before and on failure. */
  get result(): T | undefined {
    return this.#state === FULFILLED ? (this.#value as T) : undefined
  }

  /**
   * The error (or thrown value) once the call has failed; undefined otherwise. Reading it once the
   * call has failed counts as handling the failure: it is not reported as an unhandled rejection.
   */
  get error(): unknown {
    if (this.#state !== REJECTED) return undefined
    this.#handled()
    return this.#value
  }

  /** Attaches callbacks as a Promise would. The promise behind it is made on first use. */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#promise().then(onFulfilled, onRejected)
  }

  /** Attaches a rejection handler, as `Promise.prototype.catch`. */
  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#promise().then(undefined, onRejected)
  }

  /** Attaches a callback run on settlement, as `Promise.prototype.finally`. */
  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.#promise().finally(onFinally)
  }

  /**
   * Gives up on the call: it rejects at once with an AbortError (whose `cause` is `reason`), the peer is
   * told to abort the handler's `signal`, and a result that still arrives is dropped. No-op once finished.
   */
  abort(reason?: unknown): void {
    if (this.#state !== PENDING) return
    const error = new AbortError(`call ${JSON.stringify(this.#method)} was aborted`, reason === undefined ? undefined : { cause: reason })
    // The caller's own decision: not reported as an unhandled rejection when nobody awaits the call.
    this.#giveUp(error, reason === undefined ? error : reason, false, true)
  }

  /**
   * Rejects the call with a TimeoutError if it has not finished within `ms` milliseconds, and cancels
   * the remote handler. A later call replaces the earlier deadline. The timer does not keep the process
   * alive and is cleared when the call settles.
   * @returns this, for chaining: `await channel.rpc('slow').timeout(1000)`.
   */
  timeout(ms: number): this {
    if (typeof ms !== 'number' || !(ms >= 0))
      throw new RangeError(`timeout() takes a number of milliseconds from 0 up, not ${typeof ms === 'number' ? ms : typeof ms}`)
    if (this.#state !== PENDING) return this
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    // Made before the timer is armed, so that its stack shows where the deadline was set.
    const error = new TimeoutError(`call ${JSON.stringify(this.#method)} timed out after ${ms} ms`)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#giveUp(error, error)
    }, ms)
    ;(this.#timer as { unref?: () => void }).unref?.()
    return this
  }

  /**
   * Calls `listener` with every progress value the remote handler reports, in order, before the result.
   * @returns this, for chaining.
   */
  onProgress(listener: (value: Progress) => void): this {
    ;(this.#progressListeners ??= []).push(listener as (value: unknown) => void)
    return this
  }

  /**
   * Iterates the items of a streaming call. Items are requested from the peer as they are consumed, so
   * a slow loop holds back a fast producer. Leaving the loop early (`break`, `return`, a throw) cancels
   * the remote generator. Iterating a call that did not stream yields its result once.
   */
  [Symbol.asyncIterator](): AsyncIterator<Item> {
    // The loop receives the failure, if there is one.
    if (this.#state === REJECTED) this.#handled()
    const stream = this.#streamState()
    if (stream.mode === 'undecided') {
      stream.mode = 'iterate'
      // Items that arrived before the loop started are already in the queue; credit follows consumption.
    }
    const next = (): Promise<IteratorResult<Item>> => {
      if (stream.queue.length > 0) {
        const value = stream.queue.shift()
        this.#consumed(stream, 1)
        return Promise.resolve({ value: value as Item, done: false })
      }
      if (this.#state === REJECTED) return Promise.reject(this.#value)
      if (stream.ended || this.#state === FULFILLED) {
        // A call that did not stream: its result is the single item.
        if (!stream.ended && !stream.resultTaken) {
          stream.resultTaken = true
          return Promise.resolve({ value: this.#value as Item, done: false })
        }
        return Promise.resolve({ value: undefined, done: true })
      }
      const waiter = pDefer<IteratorResult<unknown>>()
      stream.waiters.push(waiter)
      return waiter.promise as Promise<IteratorResult<Item>>
    }
    const stop = (): Promise<IteratorResult<Item>> => {
      if (this.#state === PENDING) {
        const error = new AbortError(`stream ${JSON.stringify(this.#method)} was left before its end`)
        this.#giveUp(error, error, true, true)
      }
      return Promise.resolve({ value: undefined, done: true })
    }
    return { next, return: stop, throw: (error?: unknown) => stop().then(() => Promise.reject(error)) }
  }

  /** @internal The result arrived. */
  resolve(value: unknown): void {
    if (this.#state !== PENDING) return
    this.#settle(FULFILLED, value)
  }

  /** @internal The call failed (remote error, channel closed, ...). */
  reject(error: unknown): void {
    if (this.#state !== PENDING) return
    this.#settle(REJECTED, error)
  }

  /**
   * @internal The peer answered with `error`. Its stack, which shows where it was thrown on the peer,
   * gets a line naming this call, then the frames of `site` (where the call was made here, with the
   * `callSites` option) below the first `skip` lines, the library's own: so that an uncaught remote
   * error does not pass for a local one. Costs nothing unless the call fails.
   */
  rejectFromPeer(error: unknown, site: { readonly stack?: string } | undefined, skip: number): void {
    if (this.#state !== PENDING) return
    if (error instanceof Error && typeof error.stack === 'string') {
      let stack = `${error.stack}\n    at remote call ${JSON.stringify(this.#method)} (ipc-channel)`
      const frames = site?.stack?.split('\n').slice(skip + 1)
      if (frames?.length) stack += `\n${frames.join('\n')}`
      Object.defineProperty(error, 'stack', { value: stack, writable: true, configurable: true, enumerable: false })
    }
    this.#settle(REJECTED, error)
  }

  /** @internal A progress report arrived. Listener exceptions do not disturb the call. */
  progress(value: unknown): void {
    if (this.#state !== PENDING || !this.#progressListeners) return
    for (const listener of this.#progressListeners) {
      try {
        listener(value)
      } catch (error) {
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  /**
   * @internal A stream item arrived.
   * @returns false when the peer sent more than the credit it was given: a protocol violation.
   */
  item(value: unknown): boolean {
    if (this.#state !== PENDING) return true
    const stream = this.#streamState()
    if (stream.queue.length >= (this.#owner?.streamWindow ?? Infinity)) return false
    const waiter = stream.waiters.shift()
    if (waiter) {
      this.#consumed(stream, 1)
      waiter.resolve({ value, done: false })
    } else if (stream.mode === 'collect') {
      stream.collected.push(value)
      this.#consumed(stream, 1)
    } else {
      stream.queue.push(value)
    }
    return true
  }

  /** @internal The stream ended normally. */
  end(): void {
    if (this.#state !== PENDING) return
    const stream = this.#streamState()
    stream.ended = true
    this.#settle(FULFILLED, stream.mode === 'collect' ? stream.collected : [])
  }

  #streamState(): StreamState {
    if (!this.#stream) {
      this.#stream = { queue: [], mode: 'undecided', collected: [], unacknowledged: 0, ended: false, resultTaken: false, waiters: [] }
      // Already awaited: the items go straight into the result, with credit granted as they arrive.
      if (this.#deferred) this.#stream.mode = 'collect'
    }
    return this.#stream
  }

  /** Counts consumed items and grants credit in batches of half the window, to keep credit frames rare. */
  #consumed(stream: StreamState, count: number): void {
    if (this.#state !== PENDING || !this.#owner) return
    stream.unacknowledged += count
    if (stream.unacknowledged >= Math.max(1, this.#owner.streamWindow >> 1)) {
      this.#owner.grantCredit(this.#id, stream.unacknowledged)
      stream.unacknowledged = 0
    }
  }

  /**
   * Local give-up: settle, forget the call on the channel and tell the peer.
   * @param quiet a loop was left: its waiting `next()` calls end instead of rejecting.
   * @param chosen the caller gave up itself (abort, a loop left early), so nobody needs telling.
   */
  #giveUp(error: Error, reason: unknown, quiet = false, chosen = false): void {
    // A loop ends at once: buffered items are not handed out after the caller gave up.
    if (this.#stream) this.#stream.queue.length = 0
    this.#settle(REJECTED, error, quiet, chosen)
    this.#owner?.cancelCall(this.#id, reason)
  }

  #settle(state: typeof FULFILLED | typeof REJECTED, value: unknown, quiet = false, chosen = false): void {
    this.#state = state
    this.#value = value
    if (this.onSettled) {
      const onSettled = this.onSettled
      this.onSettled = undefined
      onSettled()
    }
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    const stream = this.#stream
    if (stream) {
      // Ended before anyone awaited or iterated: the buffered items are the result, and stay queued
      // for a loop that starts later.
      if (stream.mode === 'undecided' && state === FULFILLED && stream.ended) this.#value = stream.queue.slice()
      const waiters = stream.waiters.splice(0)
      for (const waiter of waiters) {
        if (state === REJECTED && !quiet) waiter.reject(value)
        else if (stream.ended || quiet || stream.resultTaken) waiter.resolve({ value: undefined, done: true })
        else {
          // A call that did not stream: the first waiting next() gets its result, the others the end.
          stream.resultTaken = true
          waiter.resolve({ value, done: false })
        }
      }
    }
    const deferred = this.#deferred
    if (deferred) {
      if (state === FULFILLED) deferred.resolve(this.#value as T)
      else deferred.reject(value)
    } else if (state === REJECTED && !chosen && stream?.mode !== 'iterate') {
      // Nobody awaits the call (yet): the failure goes to a promise of its own, which the platform
      // reports as an unhandled rejection (Node's 'unhandledRejection', a browser's
      // 'unhandledrejection') unless the call is awaited, or its error read, before the current job's
      // microtasks run out, exactly as for a rejected Promise. A call that succeeds never gets here.
      void this.#promise()
    }
  }

  /** The failure has been seen: its promise, if one was made, is no longer an unhandled rejection. */
  #handled(): void {
    this.#deferred?.promise.catch(noop)
  }

  #promise(): Promise<T> {
    if (!this.#deferred) {
      this.#deferred = pDefer<T>()
      if (this.#state === FULFILLED) this.#deferred.resolve(this.#value as T)
      else if (this.#state === REJECTED) this.#deferred.reject(this.#value)
      else if (this.#stream && this.#stream.mode === 'undecided') this.#collect(this.#stream)
    }
    return this.#deferred.promise
  }

  /** An awaited stream: everything buffered so far and everything after is collected into the result. */
  #collect(stream: StreamState): void {
    stream.mode = 'collect'
    const buffered = stream.queue.splice(0)
    stream.collected.push(...buffered)
    if (buffered.length) this.#consumed(stream, buffered.length)
  }
}
