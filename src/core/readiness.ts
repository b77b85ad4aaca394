/**
 * What `ready()` settles with: the handshake of the current (or last) connection, or, before any
 * transport was attached, a promise kept until the first handshake or the end of the channel.
 */
import pDefer, { type DeferredPromise } from 'p-defer'
import { ChannelClosedError } from './errors.js'
import { noop } from './running-call.js'

/** The handshakes of one channel, as ready() reports them. */
export class Readiness {
  /** Settles with the current (or last) handshake. */
  #handshake: Promise<void> | undefined
  /** ready() asked before any transport was attached. */
  #unattached: DeferredPromise<void> | undefined
  /** What close() and destroy() return: resolves once the channel has ended. */
  readonly #closed = pDefer<void>()

  /** Resolves once the channel has ended for good. */
  get closed(): Promise<void> {
    return this.#closed.promise
  }

  /** ready() of a channel that is `open`, `ending` (closing or closed), or neither. */
  ready(open: boolean, ending: boolean): Promise<void> {
    if (open) return Promise.resolve()
    if (ending) return this.#handshake ?? Promise.reject(new ChannelClosedError('the channel is closed'))
    if (this.#handshake) return this.#handshake
    // Not attached yet: settles with the first handshake, or when the channel ends without one.
    if (!this.#unattached) {
      this.#unattached = pDefer<void>()
      this.#unattached.promise.catch(noop)
    }
    return this.#unattached.promise
  }

  /** A connection started its handshake: ready() follows it from now on. */
  attached(handshake: Promise<void>): void {
    this.#handshake = handshake
    const waiting = this.#unattached
    this.#unattached = undefined
    if (waiting) handshake.then(waiting.resolve, waiting.reject)
  }

  /** The channel ended: a ready() still waiting for a first transport rejects, and `closed` resolves. */
  ended(): void {
    this.#closed.resolve()
    this.#unattached?.reject(new ChannelClosedError('the channel closed before it connected'))
    this.#unattached = undefined
  }
}
