/**
 * One running incoming call as its handler sees it: the call's state (cancellation, stream credit, a
 * held progress report) and the CallContext a handler exposed with `{ context: true }` receives.
 */
import type { Payload } from '../protocol/framing.js'

/** An incoming call whose handler has not finished yet. */
export interface RunningCall {
  controller: AbortController | undefined
  abortReason: unknown
  cancelled: boolean
  /** Stream credit: items this side may still send. */
  credit: number
  /** Wakes a stream pump waiting for credit or cancellation. */
  resume: (() => void) | undefined
  iterator: AsyncIterator<unknown> | undefined
  /** The latest progress report, held while the outbox is saturated (earlier ones are replaced). */
  progress: Payload | undefined
  /** Undoes what the held progress report exported, if it carried references and is not sent. */
  progressUndo: (() => void) | undefined
}

export const noop = (): void => {}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
}

export function newRunning(credit: number): RunningCall {
  return {
    controller: undefined,
    abortReason: undefined,
    cancelled: false,
    credit,
    resume: undefined,
    iterator: undefined,
    progress: undefined,
    progressUndo: undefined,
  }
}

/** The CallContext a handler exposed with `{ context: true }` receives. */
export class Context<C> {
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
