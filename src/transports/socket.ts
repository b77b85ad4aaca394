import type { Socket } from 'node:net'
import { StreamTransport, type StreamTransportOptions } from './stream.js'

/** A transport over a connected `net.Socket` or `tls.TLSSocket` (Unix socket, named pipe, TCP). */
export class SocketTransport extends StreamTransport {
  constructor(socket: Socket, options: StreamTransportOptions) {
    super(socket, socket, options)
    // Frames are already batched per tick; Nagle would only add latency.
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true)
  }
}
