/**
 * What a channel tells about itself beyond calls: the answer to the peer's `describe()` (the names it
 * exposes, PROTOCOL.md section 18), and round trips measured with the protocol's ping (section 11).
 */
import { DESCRIBE_FEATURE, DESCRIBE_METHOD, type MethodDescription } from '../protocol/introspection.js'
import { ChannelClosedError, MethodNotFoundError } from './errors.js'
import { InProgress } from './in-progress.js'
import type { HelloOptions } from '../protocol/messages.js'
import type { Registration, Registry } from './registry.js'

/** A channel's side of introspection: answering the peer's describe(), asking its own, and ping(). */
export class Introspection {
  readonly #describing: Registration | undefined
  readonly #pinger: Pinger
  /** The peer of the open (or last) connection listed `describe`. */
  #peerDescribes = false

  /**
   * @param answers whether this side answers describe() (option `introspection`)
   * @param ping sends a ping carrying a token
   */
  constructor(own: Registry, shared: () => Registry | undefined, answers: boolean, ping: (token: number) => void) {
    this.#describing = answers ? describer(own, shared) : undefined
    this.#pinger = new Pinger(ping)
  }

  /** The handler of `name` when it is the reserved describe method and this side answers it. */
  lookup(name: string): Registration | undefined {
    return name === DESCRIBE_METHOD ? this.#describing : undefined
  }

  /** A connection opened. One-sided, unlike references: the peer answers if it lists the feature, whatever this side lists. */
  opened(peer: HelloOptions): void {
    this.#peerDescribes = peer.features?.includes(DESCRIBE_FEATURE) === true
  }

  /** describe() of the peer: refused at once when the open connection's peer does not answer it, else `call()`. */
  describe(open: boolean, call: () => InProgress<MethodDescription[]>): InProgress<MethodDescription[]> {
    if (!open || this.#peerDescribes) return call()
    const refused = new InProgress<MethodDescription[]>(undefined, 0, DESCRIBE_METHOD)
    const message = 'the peer does not answer describe(): it runs with introspection: false, or predates describe()'
    refused.reject(new MethodNotFoundError(DESCRIBE_METHOD, { message }))
    return refused
  }

  ping(): Promise<number> {
    return this.#pinger.ping()
  }

  pong(token: number): void {
    this.#pinger.pong(token)
  }

  rejectAll(error: ChannelClosedError): void {
    this.#pinger.rejectAll(error)
  }
}

/**
 * The handler of the reserved describe method: the channel's own names, then those of its server
 * that the channel does not shadow, as its lookup finds them.
 */
function describer(own: Registry, shared: () => Registry | undefined): Registration {
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
class Pinger {
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
