/**
 * What every link factory (fromStream, fromMessagePort) shares: the `role` option and opening a channel
 * over a transport with its failure reported as an event, since no caller awaits it.
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
