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

/** Counts of one channel, for seeing what it holds. More counts are added over time; none is removed. */
export interface ChannelStats {
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

/** The counts of a channel whose open connection has `references` (if any), and whose calls are `calls`. */
export function statsOf(
  references: { readonly exported: number; readonly imported: number } | undefined,
  calls: { readonly notificationsFailed: number },
): ChannelStats {
  return {
    exportedReferences: references?.exported ?? 0,
    importedReferences: references?.imported ?? 0,
    notificationsFailed: calls.notificationsFailed,
  }
}
