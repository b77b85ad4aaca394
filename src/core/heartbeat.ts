/**
 * Liveness of one connection (PROTOCOL.md chapter 11): a ping every `interval`, and the verdict that the
 * peer is gone when nothing at all has arrived from it for `timeout`.
 */
import { TimeoutError } from './errors.js'

/** What a heartbeat does when it fires; both are called from its timer only. */
export interface HeartbeatPorts {
  /** Sends a ping carrying `token`. */
  ping(token: number): void
  /** The peer has been silent for too long: end the connection with `error`. Called at most once. */
  silent(error: TimeoutError): void
}

/** Pings the peer and watches that something arrives. Started when a connection opens, stopped when it ends. */
export class Heartbeat {
  /**
   * Set by the connection for every frame received: a plain field, not a call or a clock read, since
   * it is on the path of every frame.
   */
  heard = false
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(interval: number, timeout: number, ports: HeartbeatPorts) {
    let lastAlive = Date.now()
    let token = 0
    this.#timer = setInterval(() => {
      const now = Date.now()
      if (this.heard) {
        this.heard = false
        lastAlive = now
      } else if (now - lastAlive >= timeout) {
        this.stop()
        ports.silent(new TimeoutError(`the peer sent nothing for ${now - lastAlive} ms (heartbeat timeout ${timeout} ms)`))
        return
      }
      token = (token + 1) & 0x7fffffff
      ports.ping(token)
    }, interval)
    // A heartbeat alone never keeps a process alive.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  stop(): void {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}
