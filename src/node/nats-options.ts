/**
 * The options of a nats:// Server or Client that the public types name: kept apart from the NATS code,
 * so that the package's type declarations never refer to the optional `nats` client.
 */
import { describe, frameSizeOf } from '../core/options.js'

/**
 * How to reach the NATS broker beyond its host and port: the options of the `nats` client's
 * `connect()` but `servers`, such as `user` and `pass`, `token`, `authenticator` (NKeys, JWT
 * credentials), `tls` (`{ ca, cert, key }` or `{ caFile, certFile, keyFile }`: TLS to the broker) and
 * `name`. Reconnecting is the channel's business: the client's own reconnect options are overridden.
 */
export interface NatsOptions {
  /** User name for the broker. */
  user?: string
  /** Password for the broker. */
  pass?: string
  /** Token for the broker. */
  token?: string
  /** TLS to the broker: `{ ca, cert, key }`, `{ caFile, certFile, keyFile }`, as the `nats` client takes them. */
  tls?: Record<string, unknown>
  /** The connection's name, as the broker's monitoring shows it. */
  name?: string
  /** Any other option of the `nats` client's `connect()`. */
  [option: string]: unknown
}

/**
 * Bytes a peer may get ahead of the channel's reading: NATS cannot be told to wait, so while the
 * channel pauses its reading (its answers pile up unread by the peer) what arrives is held, up to a
 * frame and 16 MiB more, and then the channel ends.
 */
export function receiveLimitOf(options: { readonly maxFrameSize?: number }): number {
  return frameSizeOf(options) + 16 * 1024 * 1024
}

/** Checks the `nats` option of a Server or Client. */
export function checkNatsOption(nats: unknown): void {
  if (nats !== undefined && (typeof nats !== 'object' || nats === null || Array.isArray(nats))) {
    throw new TypeError(`nats must be an object of NATS connection options, not ${describe(nats)}`)
  }
  if (nats && 'servers' in nats) throw new TypeError('the nats option takes no servers: the broker is the address (nats://host:port/service)')
}
