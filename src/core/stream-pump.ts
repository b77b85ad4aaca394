/**
 * The handler's half of a stream (PROTOCOL.md chapter 10): sending the items of the async iterable a
 * handler returned while the caller has credit and the outbox takes them, and stopping its iterator
 * when the call is cancelled. The call's slot and its outcome's frame stay with incoming-calls.ts.
 */
import type { MessageEncoder } from '../protocol/encoder.js'
import type { Payload } from '../protocol/framing.js'
import type { CallTarget } from '../protocol/sendable.js'
import type { RunningCall } from './running-call.js'

/** What a pump needs from the channel: the incoming calls' ports, in part. */
export interface PumpPorts {
  readonly encoder: MessageEncoder
  /** Queues a stream frame for the peer, in order. */
  send(payload: Payload): void
  /** The transport pushes back or the outbox budget is spent. */
  saturated(): boolean
  /** Resolves once the outbox is no longer saturated, or when the connection ends. */
  drained(): Promise<void>
  /** Reports a failure no call can receive (a generator's return() that threw). */
  report(error: Error): void
}

/** How a stream ended: all its items sent, failed with `error`, or stopped (cancelled: nothing to send). */
export type PumpOutcome = 'end' | { readonly error: unknown } | undefined

/** A stream pump yields to the event loop after this many items, so other connections get their turn. */
const ITEMS_PER_TURN = 64

/** The next macrotask: setImmediate where there is one (Node), else a zero timeout (browsers). */
const nextTurn = (): Promise<void> =>
  new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve)
    else setTimeout(resolve, 0)
  })

/**
 * Sends the items of stream `id` while the caller has credit and the outbox takes them; stops when
 * cancelled. Yields to the event loop every ITEMS_PER_TURN items: a generator that never awaits must
 * not hold the process. Never rejects: a failure is the outcome. `target` is what was called, named in
 * the error of an item that cannot be sent.
 */
export async function pumpStream(
  id: number,
  running: RunningCall,
  iterable: AsyncIterable<unknown>,
  ports: PumpPorts,
  target: CallTarget,
): Promise<PumpOutcome> {
  let drained: Promise<void> | undefined
  try {
    const iterator = iterable[Symbol.asyncIterator]()
    running.iterator = iterator
    for (let sent = 1; ; sent++) {
      if (running.credit <= 0 && !running.cancelled) {
        await new Promise<void>((resume) => {
          running.resume = resume
        })
      }
      // Woken by a drain, or through `resume` by a cancel (a cancelled stream frees its slot at once)
      // or a credit; one drain waiter per pump, however many credits wake it meanwhile.
      while (!running.cancelled && ports.saturated()) {
        drained ??= ports.drained().then(() => {
          drained = undefined
        })
        await Promise.race([drained, new Promise<void>((resume) => (running.resume = resume))])
      }
      if (running.cancelled) return undefined
      const step = await iterator.next()
      if (running.cancelled) return undefined
      if (step.done) return 'end'
      let payload: Payload
      try {
        payload = ports.encoder.item(id, step.value, target)
      } catch (error) {
        stopIterator(running, (failure) => ports.report(failure))
        return { error }
      }
      running.credit--
      ports.send(payload)
      if (sent % ITEMS_PER_TURN === 0) await nextTurn()
    }
  } catch (error) {
    return { error }
  }
}

/** Stops a stream's iterator (cancelled, or an item that could not be sent); a throw of its return() is reported. */
export function stopIterator(running: RunningCall, report: (error: Error) => void): void {
  const iterator = running.iterator
  running.iterator = undefined
  // Queued behind a pending next() for async generators, so the generator's finally runs once it yields.
  void Promise.resolve()
    .then(() => iterator?.return?.())
    .catch((error: unknown) => report(error as Error))
}
