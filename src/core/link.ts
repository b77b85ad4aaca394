/**
 * What every link factory (fromStream, fromMessagePort) shares: the `role` option, the check of what
 * it was given, and opening a channel over a transport with its failure reported as an event, since no
 * caller awaits it.
 */
import { attachTransport, type Channel } from './channel.js'
import { ChannelClosedError } from './errors.js'
import type { Role } from './handshake.js'
import { CHANNEL_OPTION_NAMES, describe, type ChannelOptions } from './options.js'
import type { Transport } from './transport.js'
import { emitError } from './announce.js'

/** The option names every link factory takes: the channel's and `role`. */
export const LINK_OPTION_NAMES = [...CHANNEL_OPTION_NAMES, 'role'] as const

/** Options of a link factory: the channel's, and which end of the handshake this is. */
export interface LinkOptions extends ChannelOptions {
  /**
   * Which end of the handshake this is. Either side may take `auto`; give `client` and `server` when
   * both ends are known.
   * @default 'auto'
   */
  role?: Role
}

/**
 * Starts the handshake of `channel` over `transport` without waiting for it. Calls made meanwhile are
 * queued. A failed handshake (a wrong secret) is emitted as `error`; a peer that went away during it
 * is only a disconnect.
 */
export function openLink(channel: Channel, transport: Transport, role: Role): Channel {
  if (role !== 'auto' && role !== 'client' && role !== 'server') {
    throw new TypeError(`role must be 'auto', 'client' or 'server', not ${describe(role)}`)
  }
  attachTransport(channel, transport, role).catch((error: Error) => {
    if (!(error instanceof ChannelClosedError)) emitError(channel, error)
  })
  return channel
}

/**
 * Refuses, at once and by name, what `fromMessagePort` cannot carry a channel over; the usual mistake
 * is a MessageChannel, whose two ports belong to the two ends.
 * @throws TypeError saying what to pass instead.
 */
export function checkPort(port: unknown): void {
  const shape = port as { postMessage?: unknown; on?: unknown; addEventListener?: unknown; port1?: unknown; port2?: unknown } | null
  if (typeof shape === 'object' && shape !== null) {
    if (typeof shape.postMessage === 'function' && (typeof shape.on === 'function' || typeof shape.addEventListener === 'function')) return
    if (typeof shape.port1 === 'object' && typeof shape.port2 === 'object') {
      throw new TypeError('fromMessagePort() takes one port, not a MessageChannel: pass channel.port1 here and channel.port2 to the other end')
    }
  }
  throw new TypeError(
    `fromMessagePort() takes a MessagePort, a Worker, parentPort or Electron's MessagePortMain (with postMessage and on or addEventListener), not ${describe(port)}`,
  )
}
