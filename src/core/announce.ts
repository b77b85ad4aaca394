/**
 * Emitting the events of channels and servers so that neither a listener nor the lack of one can hurt
 * the code that emits them. A listener that throws does not unwind into the connection: its exception
 * surfaces in a microtask, as an uncaught exception, as from any I/O callback. An `error` event nobody
 * listens to is neither dropped without a word (as eventemitter3 does) nor thrown (as Node's
 * EventEmitter does, which would let a peer, with a wrong secret or a notification to a name this side
 * lacks, crash the process): the emitter's first such error is printed once as a warning, which says
 * how to see all of them.
 */

/** What both eventemitter3 and Node's EventEmitter offer: emit() says whether anyone listened. */
interface ErrorEmitter {
  emit(event: 'error', error: Error): boolean
}

/** A channel's events that carry nothing or an optional error. */
interface ChannelEmitter {
  emit(event: 'connect'): boolean
  emit(event: 'disconnect', reason?: Error): boolean
  emit(event: 'error', error: Error): boolean
}

/**
 * Emits `event` without letting a listener's throw reach the caller: the throw surfaces in a
 * microtask, as an uncaught exception. An `error` goes through {@link emitError}.
 */
export function announce(emitter: ChannelEmitter, event: 'connect' | 'disconnect' | 'error', reason?: Error): void {
  try {
    if (event === 'connect') emitter.emit(event)
    else if (event === 'error') emitError(emitter as ErrorEmitter, reason as Error)
    else emitter.emit(event, reason)
  } catch (error) {
    queueMicrotask(() => {
      throw error
    })
  }
}

/** The part of Node's `process` used here; absent in browsers and sandboxed renderers. */
interface WarningProcess {
  emitWarning(warning: string, options: { type: string; code: string; detail?: string }): void
}

/** Emitters that have warned already: one warning each, whatever a peer makes them emit afterwards. */
const warned = new WeakSet<object>()

/** The code of the warning, for `process.on('warning')` filters and `--disable-warning`. */
export const UNHEARD_ERROR_WARNING = 'IPC_CHANNEL_UNHEARD_ERROR'

/**
 * Emits `error` on `emitter`. With no listener, the first time for this emitter, prints a warning:
 * through `process.emitWarning` where Node's `process` is present (so `--no-warnings`, and
 * `process.on('warning')`, apply), else through `console.warn`. Never throws.
 */
export function emitError(emitter: ErrorEmitter, error: Error): void {
  if (emitter.emit('error', error) || warned.has(emitter)) return
  warned.add(emitter)
  const what = (emitter as { constructor?: { name?: string } }).constructor?.name || 'emitter'
  const text =
    `${what} had an 'error' event and no listener for it: ${error.name}: ${error.message}. ` +
    `Later ones of this ${what} are not shown: listen with .on('error', ...) to see them all.`
  const process = (globalThis as { process?: Partial<WarningProcess> }).process
  try {
    if (typeof process?.emitWarning === 'function') {
      process.emitWarning(text, { type: 'IpcChannelWarning', code: UNHEARD_ERROR_WARNING, detail: error.stack })
    } else {
      console.warn(`IpcChannelWarning: ${text}`, error)
    }
  } catch {
    // A warning that cannot be printed must not turn into the crash it was meant to avoid.
  }
}
