/**
 * What a channel tells and shows of itself: the events it emits and the counts `stats()` returns, and
 * how they are gathered.
 * Apart from channel.ts so that the facade stays within its size; neither names the Channel class.
 */

/** Events of every channel. */
export interface ChannelEvents {
  /** The handshake (and authentication) succeeded; calls flow. */
  connect: () => void
  /** The connection ended. `reason` is set when it did not end by a close() of either side. */
  disconnect: (reason?: Error) => void
  /** A failure that no call could receive: a protocol error, a notification handler that threw. */
  error: (error: Error) => void
  /**
   * Emitted by a reconnecting {@link Client} only: a new attempt is scheduled after `delay` ms;
   * `attempt` counts from 1 since the last success.
   */
  reconnecting: (info: { attempt: number; delay: number }) => void
}

/** Frames and bytes that crossed a channel's connections, counted over its life (every connection). */
export interface Traffic {
  /** Frames this side sent, the handshake's included. */
  framesSent: number
  /** Bytes of the frames this side sent. */
  bytesSent: number
  /** Frames that arrived from the peer, the handshake's included. */
  framesReceived: number
  /** Bytes of the frames that arrived. */
  bytesReceived: number
}

/**
 * Counts of one channel, for seeing what it holds and what went through it. More counts are added
 * over time; none is removed. Frames and bytes count every connection the channel had (a reconnecting
 * client's too), without the 4-byte length prefix of byte streams.
 */
export interface ChannelStats extends Traffic {
  /** Calls this side made that have not settled (sent, or queued while not connected). */
  pendingCalls: number
  /** Handlers of the peer's calls and notifications running now, cancelled ones until they end. */
  runningHandlers: number
  /** The peer's calls and notifications waiting for a handler slot (`maxConcurrentCalls`). */
  waitingCalls: number
  /** Frames held to be sent: queued while not connected, or while the transport pushes back. */
  queuedFrames: number
  /** What the held frames cost against `maxBufferedBytes`: their bytes plus a small overhead each. */
  queuedBytes: number
  /** References this side exports to the peer on the current connection (the peer holds their stubs). */
  exportedReferences: number
  /** References this side holds from the peer (stubs and AbortSignals not yet released). */
  importedReferences: number
  /**
   * Notifications of this side that the peer reported as failed there (a name it lacks, a handler that
   * threw, one dropped): counted with the `notifyErrors` option only, else 0. Each is also an `error`
   * event of this channel.
   */
  notificationsFailed: number
}

/** What {@link statsOf} reads: the parts of a channel, each asked for its own counts. */
export interface CountedParts {
  /** The open connection's reference tables, if any. */
  readonly references: { readonly exported: number; readonly imported: number } | undefined
  readonly calls: { readonly size: number; readonly notificationsFailed: number }
  readonly incoming: { readonly running: number; readonly waiting: number }
  readonly outbox: { readonly size: number; readonly bytes: number }
  readonly traffic: Traffic
}

/** The counts of a channel, read from its parts. */
export function statsOf({ references, calls, incoming, outbox, traffic }: CountedParts): ChannelStats {
  return {
    pendingCalls: calls.size,
    runningHandlers: incoming.running,
    waitingCalls: incoming.waiting,
    queuedFrames: outbox.size,
    queuedBytes: outbox.bytes,
    ...traffic,
    exportedReferences: references?.exported ?? 0,
    importedReferences: references?.imported ?? 0,
    notificationsFailed: calls.notificationsFailed,
  }
}
