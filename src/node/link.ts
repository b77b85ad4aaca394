import type { Duplex, Readable, Writable } from 'node:stream'
import { attachTransport, Channel, DEFAULT_MAX_FRAME_SIZE, type ChannelOptions } from '../core/channel.js'
import { ChannelClosedError } from '../core/errors.js'
import { StreamTransport } from '../transports/stream.js'

/** A readable and a writable that together make one connection: a child's stdout and stdin, say. */
export interface StreamPair {
  readable: Readable
  writable: Writable
}

/** Options of {@link fromStream}. */
export interface StreamOptions extends ChannelOptions {
  /**
   * Which end of the handshake this is. Either side may take `auto`; give `client` and `server` when
   * both ends are known.
   * @default 'auto'
   */
  role?: 'client' | 'server' | 'auto'
}

/**
 * Makes a Channel over any Node byte stream: a duplex (a socket, a pipe) or a readable and writable
 * pair (a child's stdout and stdin, or `process.stdin` and `process.stdout` in the child), with the
 * framing, handshake and secret of a socket connection. Calls made before the handshake completes are
 * queued. A failed handshake (a wrong secret) is emitted as `error` and rejects what was queued. The
 * channel ends when either stream ends or fails; `close()` ends the writable after the goodbye.
 */
export function fromStream(stream: Duplex | StreamPair, options: StreamOptions = {}): Channel {
  const { role = 'auto', ...channelOptions } = options
  const [readable, writable] = isPair(stream) ? [stream.readable, stream.writable] : [stream, stream]
  const channel = new Channel(channelOptions)
  const transport = new StreamTransport(readable, writable, { maxFrameSize: channelOptions.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE })
  attachTransport(channel, transport, role).catch((error: Error) => {
    // A peer that went away during the handshake is a disconnect; anything else is worth an event.
    if (!(error instanceof ChannelClosedError)) channel.emit('error', error)
  })
  return channel
}

function isPair(stream: Duplex | StreamPair): stream is StreamPair {
  // A Duplex has `readable` and `writable` too, as booleans.
  return typeof stream.readable === 'object' && stream.readable !== null
}
