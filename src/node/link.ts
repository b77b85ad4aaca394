/**
 * fromStream: a Channel over any Node byte stream (a duplex, or a readable and writable pair).
 */
import type { Duplex, Readable, Writable } from 'node:stream'
import { Channel } from '../core/channel.js'
import { LINK_OPTION_NAMES, openLink, type LinkOptions } from '../core/link.js'
import { checkOptionNames, frameSizeOf } from '../core/options.js'
import { StreamTransport } from '../transports/stream.js'

/** A readable and a writable that together make one connection: a child's stdout and stdin, say. */
export interface StreamPair {
  /** Where the peer's frames are read from. */
  readable: Readable
  /** Where this side's frames are written. */
  writable: Writable
}

/** Options of {@link fromStream}. */
export type StreamOptions = LinkOptions

/**
 * Makes a Channel over any Node byte stream: a duplex (a socket, a pipe) or a readable and writable
 * pair (a child's stdout and stdin, or `process.stdin` and `process.stdout` in the child), with the
 * framing, handshake and secret of a socket connection. Calls made before the handshake completes are
 * queued. A failed handshake (a wrong secret) is emitted as `error` and rejects what was queued. The
 * channel ends when either stream ends or fails; `close()` ends the writable after the goodbye.
 * @throws TypeError for an unknown option name, an option of the wrong type or a `role` that is not
 *   one of the three; RangeError for a number out of its range, as `new Channel(options)` does.
 */
export function fromStream(stream: Duplex | StreamPair, options: StreamOptions = {}): Channel {
  checkOptionNames(options, LINK_OPTION_NAMES, 'fromStream')
  const { role = 'auto', ...channelOptions } = options
  const [readable, writable] = isPair(stream) ? [stream.readable, stream.writable] : [stream, stream]
  const channel = new Channel(channelOptions)
  return openLink(channel, new StreamTransport(readable, writable, { maxFrameSize: frameSizeOf(channelOptions) }), role)
}

function isPair(stream: Duplex | StreamPair): stream is StreamPair {
  // A Duplex has `readable` and `writable` too, as booleans.
  return typeof stream.readable === 'object' && stream.readable !== null
}
