/**
 * What a channel tells about itself beyond calls: the answer to the peer's `describe()` (the names it
 * exposes, PROTOCOL.md section 18), and round trips measured with the protocol's ping (section 11).
 */
import { DESCRIBE_METHOD, type MethodDescription } from '../protocol/introspection.js'
import { ChannelClosedError } from './errors.js'
import type { Registration, Registry } from './registry.js'

/**
 * The handler of the reserved describe method: the channel's own names, then those of its server
 * that the channel does not shadow, as its lookup finds them.
 */
export function describer(own: Registry, shared: () => Registry | undefined): Registration {
  return {
    fn: (): MethodDescription[] => {
      const descriptions = own.describe()
      const server = shared()
      if (server === undefined) return descriptions
      const names = new Set(descriptions.map(({ name }) => name))
      for (const description of server.describe()) if (!names.has(description.name)) descriptions.push(description)
      return descriptions
    },
    thisArg: undefined,
    context: false,
  }
}

export { DESCRIBE_METHOD }

/**
 * Pings the peer on demand and times the answer. Its tokens start at 2^31, above any the heartbeat
 * (which counts from 0) reaches, so that each pong finds its ping; a pong with any other token is the
 * heartbeat's, or unsolicited, and ignored.
 */
export class Pinger {
  readonly #send: (token: number) => void
  readonly #waiting = new Map<number, { at: number; resolve: (ms: number) => void; reject: (error: Error) => void }>()
  #next = 2 ** 31

  constructor(send: (token: number) => void) {
    this.#send = send
  }

  /** Sends a ping: resolves with the round trip in milliseconds when its pong arrives. */
  ping(): Promise<number> {
    const token = this.#next
    this.#next = token >= 2 ** 32 - 1 ? 2 ** 31 : token + 1
    return new Promise<number>((resolve, reject) => {
      this.#waiting.set(token, { at: performance.now(), resolve, reject })
      this.#send(token)
    })
  }

  pong(token: number): void {
    const waiting = this.#waiting.get(token)
    if (waiting === undefined) return
    this.#waiting.delete(token)
    waiting.resolve(performance.now() - waiting.at)
  }

  /** The connection ended: no pong will come. */
  rejectAll(error: ChannelClosedError): void {
    for (const { reject } of this.#waiting.values()) reject(error)
    this.#waiting.clear()
  }
}
