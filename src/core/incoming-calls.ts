/**
 * The peer's calls running on this side (PROTOCOL.md chapters 6-10, handler's half): the concurrency
 * bound and the queue of calls waiting for a slot, handler invocation and its CallContext, streams
 * (pumped by stream-pump.ts), cancellation, and notifications.
 */
import { type Payload } from '../protocol/framing.js'
import type { MessageEncoder } from '../protocol/encoder.js'
import { MAX_STREAM_WINDOW, type HelloOptions } from '../protocol/messages.js'
import { BufferFullError, MethodNotFoundError, ProtocolError } from './errors.js'
import { DEFAULTS } from './options.js'
import type { Registration } from './registry.js'
import { Context, isAsyncIterable, isPromiseLike, newRunning, noop, type RunningCall } from './running-call.js'
import { pumpStream, stopIterator } from './stream-pump.js'
import { IdMap, IdTable } from './id-map.js'

/** What incoming calls need from the channel; built by the channel as arrow functions. */
export interface IncomingPorts<C> {
  /** The channel handlers see as `context.channel`. */
  readonly channel: C
  readonly encoder: MessageEncoder
  /** The handler exposed under `name`, if any. */
  lookup(name: string): Registration | undefined
  /** What a call through a reference reaches (a registration that throws when there is nothing). */
  lookupReference(target: ReferenceTarget): Registration
  /**
   * For a payload just encoded that carried references: what undoes its exports, should it not be
   * sent (a progress report held, then replaced or dropped). Taken at once, or never.
   */
  undoOf(payload: Payload): (() => void) | undefined
  /** What to add to "method not found" for `name`: the closest exposed name, when one is close. */
  hint(name: string): string
  /** Queues an answer, a stream frame or progress for the peer, in order. */
  send(payload: Payload): void
  /** The channel is connected: answers can still reach the caller. */
  connected(): boolean
  /** The transport pushes back or the outbox budget is spent: producers that can wait should. */
  saturated(): boolean
  /** Resolves once the outbox is no longer saturated, or when the connection ends. */
  drained(): Promise<void>
  /** Reports a failure no call can receive (a throwing notification handler, a generator's return()). */
  report(error: Error): void
}

/** Limits of incoming calls, from the channel's options. */
export interface IncomingLimits {
  readonly maxConcurrentCalls: number
  readonly maxWaitingCalls: number
  /** Also bounds the frame bytes of the calls and notifications waiting for a slot, together. */
  readonly maxBufferedBytes: number
}

/** A call through a reference (PROTOCOL.md section 17.3): the export, and its member (null: the function itself). */
export interface ReferenceTarget {
  readonly ref: number
  readonly member: string | null
}

interface WaitingCall {
  /** An exposed name, or a reference. */
  readonly name: string | ReferenceTarget
  readonly args: unknown[]
  /** Bytes of the frame it came in: what holding it is counted at. */
  readonly size: number
}

/** Outstanding stream credit this side honours per call: a larger grant is clamped (PROTOCOL.md section 10). */
const MAX_STREAM_CREDIT = MAX_STREAM_WINDOW

/**
 * Runs the peer's calls. Generic over the channel type so that it needs nothing from the channel's
 * module: the channel passes itself for `context.channel`.
 *
 * Budget, with calls and notifications counted apart (so that a notification never waits behind
 * calls): at most maxConcurrentCalls call handlers hold a slot at once, from their start until they
 * really end (a cancelled handler that ignores its signal keeps its slot); calls beyond wait in
 * arrival order, at most maxWaitingCalls of them. Likewise at most maxConcurrentCalls notification
 * handlers that returned a promise are pending at once, and at most maxWaitingCalls notifications
 * wait behind them; a notification beyond that is dropped and reported.
 */
export class IncomingCalls<C> {
  readonly #ports: IncomingPorts<C>
  readonly #limits: IncomingLimits
  readonly #running = new IdTable<RunningCall>()
  /** Calls waiting for a slot, in arrival order (a Map keeps insertion order and deletes in O(1)). */
  readonly #waiting = new IdMap<WaitingCall>()
  /** Notifications waiting for a slot, in arrival order, by a sequence number (a Map deletes in O(1)). */
  readonly #waitingNotifications = new IdMap<WaitingCall>()
  #notificationSeq = 0
  /** Frame bytes of everything waiting, calls and notifications. */
  #waitingBytes = 0
  /** Slots held by calls: running, and cancelled whose handler has not ended. */
  #busy = 0
  /** Notification handlers whose promise has not settled. */
  #notifying = 0
  #startingWaiting = false
  /** Stream items the peer lets this side send before it grants more credit, from its hello. */
  peerWindow: number
  /** The peer asked, in its hello, to be told of its notifications that fail here. */
  peerNotifyErrors = false

  /** @param peerWindow the peer's stream window until its hello says otherwise. */
  constructor(ports: IncomingPorts<C>, limits: IncomingLimits, peerWindow: number = DEFAULTS.streamWindow) {
    this.#ports = ports
    this.#limits = limits
    this.peerWindow = peerWindow
  }

  /** The peer's hello arrived: the stream window it grants, and whether it asks for notification reports. */
  peerHello(hello: HelloOptions): void {
    this.peerWindow = hello.window ?? DEFAULTS.streamWindow
    this.peerNotifyErrors = hello.notifyErrors === true
  }

  /** Handlers holding a slot, including cancelled ones that have not ended yet. */
  get running(): number {
    return this.#busy
  }

  /** Calls and notifications waiting for a slot. */
  get waiting(): number {
    return this.#waiting.size + this.#waitingNotifications.size
  }

  /**
   * A call arrived in a frame of `size` bytes: runs its handler now, or queues it while every slot is
   * taken (within maxWaitingCalls and, for the waiting frames' bytes, maxBufferedBytes). `name` is an
   * exposed name, or the reference a call through a reference reaches.
   */
  call(id: number, name: string | ReferenceTarget, args: unknown[], size: number): void {
    if (this.#running.has(id)) throw new ProtocolError(`call id ${id} is already running`)
    if (this.#waiting.has(id)) throw new ProtocolError(`call id ${id} is already waiting for a handler slot`)
    if (this.#waiting.size > 0 || this.#busy >= this.#limits.maxConcurrentCalls) {
      const refused = this.#refuseWaiting(this.#waiting.size, size, 'calls')
      if (refused) this.#sendError(id, refused)
      else this.#hold(this.#waiting, id, { name, args, size })
      return
    }
    this.#start(id, name, args)
  }

  /** A notification arrived in a frame of `size` bytes: runs its handler (now, or once a slot is free). */
  notify(name: string, args: unknown[], size: number): void {
    if (this.#waitingNotifications.size > 0 || this.#notifying >= this.#limits.maxConcurrentCalls) {
      const refused = this.#refuseWaiting(this.#waitingNotifications.size, size, 'notifications')
      if (refused) {
        refused.message = `notification ${JSON.stringify(name)} dropped: ${refused.message}`
        this.#notificationFailed(name, refused)
      } else {
        this.#hold(this.#waitingNotifications, this.#notificationSeq++, { name, args, size })
      }
      return
    }
    this.#runNotification(name, args)
  }

  #refuseWaiting(waiting: number, size: number, what: string): BufferFullError | undefined {
    if (waiting >= this.#limits.maxWaitingCalls) {
      return new BufferFullError(`${waiting} ${what} already wait for a handler slot (maxWaitingCalls)`)
    }
    if (this.#waitingBytes + size > this.#limits.maxBufferedBytes) {
      return new BufferFullError(`${this.#waitingBytes} bytes of calls and notifications already wait for a handler slot (maxBufferedBytes)`)
    }
    return undefined
  }

  #hold(queue: IdMap<WaitingCall>, key: number, waiting: WaitingCall): void {
    queue.set(key, waiting)
    this.#waitingBytes += waiting.size
  }

  /** Takes a waiting call or notification off its queue (to start it, or because it was cancelled). */
  #unhold(queue: IdMap<WaitingCall>, key: number): void {
    const waiting = queue.get(key)
    if (waiting === undefined) return
    queue.delete(key)
    this.#waitingBytes -= waiting.size
  }

  /** The caller gave up on call `id`: its handler's signal aborts, its stream stops, or it never starts. */
  cancel(id: number, reason: () => unknown): void {
    const running = this.#running.get(id)
    if (running) this.#cancelRunning(id, running, reason())
    else this.#unhold(this.#waiting, id)
  }

  /** The caller of stream `id` accepts `count` more items; outstanding credit is clamped at MAX_STREAM_CREDIT. */
  credit(id: number, count: number): void {
    const running = this.#running.get(id)
    if (running) {
      running.credit = Math.min(running.credit + count, MAX_STREAM_CREDIT)
      const resume = running.resume
      running.resume = undefined
      resume?.()
    }
  }

  /** The connection ended: waiting calls are dropped and running handlers are aborted with `reason`. */
  cancelAll(reason: Error): void {
    this.#waiting.clear()
    this.#waitingNotifications.clear()
    this.#waitingBytes = 0
    if (this.#running.size > 0) {
      for (const [id, running] of [...this.#running]) this.#cancelRunning(id, running, reason)
    }
  }

  #runNotification(name: string, args: unknown[]): void {
    const registration = this.#ports.lookup(name)
    if (!registration) {
      const message = `notification for an unknown method: ${JSON.stringify(name)}${this.#ports.hint(name)}`
      this.#notificationFailed(name, new MethodNotFoundError(name, { message }))
      return
    }
    const report = (error: unknown): void => {
      this.#notificationFailed(
        name,
        error instanceof Error ? error : new Error(`notification handler ${JSON.stringify(name)} threw`, { cause: error }),
      )
    }
    try {
      let result: unknown
      if (registration.context) {
        result = registration.fn.call(registration.thisArg, new Context(this.#ports.channel, newRunning(0), noop), ...args)
      } else {
        result = registration.fn.apply(registration.thisArg, args)
      }
      if (isPromiseLike(result)) {
        this.#notifying++
        const done = (): void => {
          this.#notifying--
          if (this.#waitingNotifications.size > 0) queueMicrotask(() => this.#startWaiting())
        }
        result.then(done, (error: unknown) => {
          done()
          report(error)
        })
      }
    } catch (error) {
      report(error)
    }
  }

  /**
   * A notification failed here: reported on this side, and to the peer when it asked for it and its
   * answers are not piling up (the report is advisory, so it is the first thing to drop).
   */
  #notificationFailed(name: string, error: Error): void {
    this.#ports.report(error)
    if (this.peerNotifyErrors && this.#ports.connected() && !this.#ports.saturated()) this.#ports.send(this.#ports.encoder.notifyFailed(name, error))
  }

  #start(id: number, name: string | ReferenceTarget, args: unknown[]): void {
    const registration = typeof name === 'string' ? this.#ports.lookup(name) : this.#ports.lookupReference(name)
    if (!registration) {
      // Only a name can miss: lookupReference throws for a reference that reaches nothing.
      const method = name as string
      this.#sendError(id, new MethodNotFoundError(method, { message: `method not found: ${JSON.stringify(method)}${this.#ports.hint(method)}` }))
      return
    }
    let running: RunningCall | undefined
    let result: unknown
    try {
      if (registration.context) {
        running = this.#track(id)
        const tracked = running
        const context = new Context(this.#ports.channel, tracked, (value) => this.#sendProgress(id, tracked, value, name))
        result = registration.fn.call(registration.thisArg, context, ...args)
      } else {
        result = registration.fn.apply(registration.thisArg, args)
      }
    } catch (error) {
      if (!running || this.#settle(id, running)) this.#sendError(id, error)
      return
    }
    if (isPromiseLike(result)) {
      const tracked = running ?? this.#track(id)
      result.then(
        (value) => this.#complete(id, tracked, value, name),
        (error: unknown) => {
          if (this.#settle(id, tracked)) this.#sendError(id, error)
        },
      )
    } else {
      this.#complete(id, running, result, name)
    }
  }

  #track(id: number): RunningCall {
    const running = newRunning(this.peerWindow)
    this.#running.set(id, running)
    this.#busy++
    return running
  }

  /**
   * A tracked call's handler has ended: its slot is free. Called exactly once per tracked call.
   * @returns whether its outcome should still be sent.
   */
  #settle(id: number, running: RunningCall): boolean {
    if (!running.cancelled) this.#running.delete(id)
    this.#release()
    if (running.cancelled || !this.#ports.connected()) {
      this.#dropProgress(running)
      return false
    }
    // A progress report held back by a full outbox goes out ahead of the outcome.
    if (running.progress !== undefined) this.#ports.send(running.progress)
    running.progress = running.progressUndo = undefined
    return true
  }

  #release(): void {
    this.#busy--
    if (this.#waiting.size > 0) queueMicrotask(() => this.#startWaiting())
  }

  /** Starts calls and notifications that waited for a slot, each in arrival order. */
  #startWaiting(): void {
    if (this.#startingWaiting) return
    this.#startingWaiting = true
    try {
      for (const [id, waiting] of this.#waiting) {
        if (this.#busy >= this.#limits.maxConcurrentCalls || !this.#ports.connected()) break
        this.#unhold(this.#waiting, id)
        this.#start(id, waiting.name, waiting.args)
      }
      for (const [seq, waiting] of this.#waitingNotifications) {
        if (this.#notifying >= this.#limits.maxConcurrentCalls || !this.#ports.connected()) break
        this.#unhold(this.#waitingNotifications, seq)
        this.#runNotification(waiting.name as string, waiting.args)
      }
    } finally {
      this.#startingWaiting = false
    }
  }

  /** @param name what was called: named in the error the caller gets when the result cannot be sent. */
  #complete(id: number, running: RunningCall | undefined, value: unknown, name: string | ReferenceTarget): void {
    if (isAsyncIterable(value)) {
      if (running?.cancelled) this.#settle(id, running)
      else void this.#pumpStream(id, running ?? this.#track(id), value, name)
      return
    }
    if (!running || this.#settle(id, running)) {
      if (this.#ports.connected()) this.#ports.send(this.#ports.encoder.result(id, value, name))
    }
  }

  /** Sends a stream's items (see {@link pumpStream}); the call's slot is freed once it ends. */
  async #pumpStream(id: number, running: RunningCall, iterable: AsyncIterable<unknown>, name: string | ReferenceTarget): Promise<void> {
    const outcome = await pumpStream(id, running, iterable, this.#ports, name)
    if (this.#settle(id, running) && outcome !== undefined) {
      if (outcome === 'end') this.#ports.send(this.#ports.encoder.end(id))
      else this.#sendError(id, outcome.error)
    }
  }

  #cancelRunning(id: number, running: RunningCall, reason: unknown): void {
    if (running.cancelled) return
    running.cancelled = true
    running.abortReason = reason
    this.#dropProgress(running)
    // The id is free for the peer again, but the slot stays taken until the handler really ends.
    this.#running.delete(id)
    running.controller?.abort(reason)
    if (running.iterator) stopIterator(running, (error) => this.#ports.report(error))
    const resume = running.resume
    running.resume = undefined
    resume?.()
  }

  /**
   * Progress is advisory: while the outbox is saturated (the caller does not read), reports are
   * coalesced to the latest, which goes out once it drains or ahead of the outcome.
   */
  #sendProgress(id: number, running: RunningCall, value: unknown, name: string | ReferenceTarget): void {
    // After the handler finished (its result is on its way) progress would arrive late: dropped.
    if (running.cancelled || !this.#ports.connected() || this.#running.get(id) !== running) return
    const payload = this.#ports.encoder.progress(id, value, name)
    if (running.progress === undefined && !this.#ports.saturated()) {
      this.#ports.send(payload)
      return
    }
    const waiting = running.progress !== undefined
    running.progressUndo?.()
    running.progress = payload
    running.progressUndo = this.#ports.undoOf(payload)
    if (waiting) return
    void this.#ports.drained().then(() => {
      const held = running.progress
      if (held === undefined) return
      if (!running.cancelled && this.#running.get(id) === running && this.#ports.connected()) {
        running.progress = running.progressUndo = undefined
        this.#ports.send(held)
      } else {
        this.#dropProgress(running)
      }
    })
  }

  /** A held progress report that will not be sent: what it exported is undone. */
  #dropProgress(running: RunningCall): void {
    const undo = running.progressUndo
    running.progress = running.progressUndo = undefined
    undo?.()
  }

  #sendError(id: number, thrown: unknown): void {
    if (this.#ports.connected()) this.#ports.send(this.#ports.encoder.error(id, thrown))
  }
}
