/**
 * The peer's calls running on this side (PROTOCOL.md chapters 6-10, handler's half): the concurrency
 * bound and the queue of calls waiting for a slot, handler invocation and its CallContext, streams
 * pumped against the caller's credit, cancellation, and notifications.
 */
import { type Payload } from '../protocol/framing.js'
import type { MessageEncoder } from '../protocol/encoder.js'
import { BufferFullError, MethodNotFoundError, ProtocolError } from './errors.js'
import type { Registration } from './registry.js'

/** What incoming calls need from the channel; built by the channel as arrow functions. */
export interface IncomingPorts<C> {
  /** The channel handlers see as `context.channel`. */
  readonly channel: C
  readonly encoder: MessageEncoder
  /** The handler exposed under `name`, if any. */
  lookup(name: string): Registration | undefined
  /** Queues an answer, a stream frame or progress for the peer, in order. */
  send(payload: Payload): void
  /** The channel is connected: answers can still reach the caller. */
  connected(): boolean
  /** Reports a failure no call can receive (a throwing notification handler, a generator's return()). */
  report(error: Error): void
}

/** Limits of incoming calls, from the channel's options. */
export interface IncomingLimits {
  readonly maxConcurrentCalls: number
  readonly maxWaitingCalls: number
}

/** An incoming call whose handler has not finished yet. */
interface RunningCall {
  controller: AbortController | undefined
  abortReason: unknown
  cancelled: boolean
  /** Stream credit: items this side may still send. */
  credit: number
  /** Wakes a stream pump waiting for credit or cancellation. */
  resume: (() => void) | undefined
  iterator: AsyncIterator<unknown> | undefined
}

interface WaitingCall {
  readonly name: string
  readonly args: unknown[]
}

const noop = (): void => {}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  )
}

function newRunning(credit: number): RunningCall {
  return { controller: undefined, abortReason: undefined, cancelled: false, credit, resume: undefined, iterator: undefined }
}

/** The CallContext a handler exposed with `{ context: true }` receives. */
class Context<C> {
  readonly channel: C
  readonly #running: RunningCall
  readonly #send: (value: unknown) => void

  constructor(channel: C, running: RunningCall, send: (value: unknown) => void) {
    this.channel = channel
    this.#running = running
    this.#send = send
  }

  get signal(): AbortSignal {
    const running = this.#running
    if (!running.controller) {
      // Made on first use: handlers that never look at the signal cost no AbortController.
      running.controller = new AbortController()
      if (running.cancelled) running.controller.abort(running.abortReason)
    }
    return running.controller.signal
  }

  /** An own property rather than a method, so that `const { progress } = ctx` works too. */
  readonly progress = (value: unknown): void => {
    this.#send(value)
  }
}

/**
 * Runs the peer's calls. Generic over the channel type so that it needs nothing from the channel's
 * module: the channel passes itself for `context.channel`.
 */
export class IncomingCalls<C> {
  readonly #ports: IncomingPorts<C>
  readonly #limits: IncomingLimits
  readonly #running = new Map<number, RunningCall>()
  /** Calls waiting for a handler slot, in arrival order (a Map keeps insertion order and deletes in O(1)). */
  readonly #waiting = new Map<number, WaitingCall>()
  #startingWaiting = false
  /** Stream items the peer lets this side send before it grants more credit, from its hello. */
  peerWindow: number

  constructor(ports: IncomingPorts<C>, limits: IncomingLimits, peerWindow: number) {
    this.#ports = ports
    this.#limits = limits
    this.peerWindow = peerWindow
  }

  /** Handlers running. */
  get running(): number {
    return this.#running.size
  }

  /** Calls waiting for a handler slot. */
  get waiting(): number {
    return this.#waiting.size
  }

  /** A call arrived: runs its handler now, or queues it while every slot is taken. */
  call(id: number, name: string, args: unknown[]): void {
    if (this.#running.has(id)) throw new ProtocolError(`call id ${id} is already running`)
    if (this.#waiting.size > 0 || this.#running.size >= this.#limits.maxConcurrentCalls) {
      if (this.#waiting.size >= this.#limits.maxWaitingCalls) {
        this.#sendError(id, new BufferFullError(`${this.#waiting.size} calls already wait for a handler slot (maxWaitingCalls)`))
        return
      }
      this.#waiting.set(id, { name, args })
      return
    }
    this.#start(id, name, args)
  }

  /** The caller gave up on call `id`: its handler's signal aborts, its stream stops, or it never starts. */
  cancel(id: number, reason: () => unknown): void {
    const running = this.#running.get(id)
    if (running) this.#cancelRunning(id, running, reason())
    else this.#waiting.delete(id)
  }

  /** The caller of stream `id` accepts `count` more items. */
  credit(id: number, count: number): void {
    const running = this.#running.get(id)
    if (running) {
      running.credit += count
      const resume = running.resume
      running.resume = undefined
      resume?.()
    }
  }

  /** A notification arrived: runs its handler; failures go to `report`, never to the peer. */
  notify(name: string, args: unknown[]): void {
    const registration = this.#ports.lookup(name)
    if (!registration) {
      this.#ports.report(new MethodNotFoundError(name, { message: `notification for an unknown method: ${JSON.stringify(name)}` }))
      return
    }
    const report = (error: unknown): void => {
      this.#ports.report(error instanceof Error ? error : new Error(`notification handler ${JSON.stringify(name)} threw`, { cause: error }))
    }
    try {
      let result: unknown
      if (registration.context) {
        result = registration.fn.call(registration.thisArg, new Context(this.#ports.channel, newRunning(0), noop), ...args)
      } else {
        result = registration.fn.apply(registration.thisArg, args)
      }
      if (isPromiseLike(result)) result.then(undefined, report)
    } catch (error) {
      report(error)
    }
  }

  /** The connection ended: waiting calls are dropped and running handlers are aborted with `reason`. */
  cancelAll(reason: Error): void {
    this.#waiting.clear()
    if (this.#running.size > 0) {
      for (const [id, running] of [...this.#running]) this.#cancelRunning(id, running, reason)
    }
  }

  #start(id: number, name: string, args: unknown[]): void {
    const registration = this.#ports.lookup(name)
    if (!registration) {
      this.#sendError(id, new MethodNotFoundError(name))
      return
    }
    let running: RunningCall | undefined
    let result: unknown
    try {
      if (registration.context) {
        running = this.#track(id)
        const tracked = running
        const context = new Context(this.#ports.channel, tracked, (value) => this.#sendProgress(id, tracked, value))
        result = registration.fn.call(registration.thisArg, context, ...args)
      } else {
        result = registration.fn.apply(registration.thisArg, args)
      }
    } catch (error) {
      if (running) this.#running.delete(id)
      this.#sendError(id, error)
      return
    }
    if (isPromiseLike(result)) {
      const tracked = running ?? this.#track(id)
      result.then(
        (value) => this.#complete(id, tracked, value),
        (error: unknown) => {
          if (this.#untrack(id, tracked)) this.#sendError(id, error)
        },
      )
    } else {
      this.#complete(id, running, result)
    }
  }

  #track(id: number): RunningCall {
    const running = newRunning(this.peerWindow)
    this.#running.set(id, running)
    return running
  }

  /** Forgets a finished call. @returns whether its outcome should still be sent. */
  #untrack(id: number, running: RunningCall | undefined): boolean {
    if (running) {
      if (running.cancelled) return false
      this.#running.delete(id)
      if (this.#waiting.size > 0) queueMicrotask(() => this.#startWaiting())
    }
    return this.#ports.connected()
  }

  /** Starts calls that waited for a handler slot, in arrival order. */
  #startWaiting(): void {
    if (this.#startingWaiting) return
    this.#startingWaiting = true
    try {
      for (const [id, call] of this.#waiting) {
        if (this.#running.size >= this.#limits.maxConcurrentCalls || !this.#ports.connected()) break
        this.#waiting.delete(id)
        this.#start(id, call.name, call.args)
      }
    } finally {
      this.#startingWaiting = false
    }
  }

  #complete(id: number, running: RunningCall | undefined, value: unknown): void {
    if (isAsyncIterable(value)) {
      if (running?.cancelled) return
      void this.#pumpStream(id, running ?? this.#track(id), value)
      return
    }
    if (this.#untrack(id, running)) this.#ports.send(this.#ports.encoder.result(id, value))
  }

  /** Sends a stream's items while the caller has credit; ends, fails or stops it when cancelled. */
  async #pumpStream(id: number, running: RunningCall, iterable: AsyncIterable<unknown>): Promise<void> {
    let iterator: AsyncIterator<unknown>
    try {
      iterator = iterable[Symbol.asyncIterator]()
    } catch (error) {
      if (this.#untrack(id, running)) this.#sendError(id, error)
      return
    }
    running.iterator = iterator
    try {
      for (;;) {
        if (running.credit <= 0 && !running.cancelled) {
          await new Promise<void>((resume) => {
            running.resume = resume
          })
        }
        if (running.cancelled) return
        const step = await iterator.next()
        if (running.cancelled) return
        if (step.done) {
          if (this.#untrack(id, running)) this.#ports.send(this.#ports.encoder.end(id))
          return
        }
        let payload: Payload
        try {
          payload = this.#ports.encoder.item(id, step.value)
        } catch (error) {
          this.#stopIterator(running)
          if (this.#untrack(id, running)) this.#sendError(id, error)
          return
        }
        running.credit--
        this.#ports.send(payload)
      }
    } catch (error) {
      if (this.#untrack(id, running)) this.#sendError(id, error)
    }
  }

  #stopIterator(running: RunningCall): void {
    const iterator = running.iterator
    running.iterator = undefined
    // Queued behind a pending next() for async generators, so the generator's finally runs once it yields.
    void Promise.resolve()
      .then(() => iterator?.return?.())
      .catch((error: unknown) => this.#ports.report(error as Error))
  }

  #cancelRunning(id: number, running: RunningCall, reason: unknown): void {
    if (running.cancelled) return
    running.cancelled = true
    running.abortReason = reason
    this.#running.delete(id)
    if (this.#waiting.size > 0) queueMicrotask(() => this.#startWaiting())
    running.controller?.abort(reason)
    if (running.iterator) this.#stopIterator(running)
    const resume = running.resume
    running.resume = undefined
    resume?.()
  }

  #sendProgress(id: number, running: RunningCall, value: unknown): void {
    // After the handler finished (its result is on its way) progress would arrive late: dropped.
    if (running.cancelled || !this.#ports.connected() || this.#running.get(id) !== running) return
    this.#ports.send(this.#ports.encoder.progress(id, value))
  }

  #sendError(id: number, thrown: unknown): void {
    if (this.#ports.connected()) this.#ports.send(this.#ports.encoder.error(id, thrown))
  }
}
