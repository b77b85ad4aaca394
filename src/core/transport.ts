import type { Payload } from '../protocol/framing.js'

/**
 * The contract between a Channel and whatever carries its frames. A transport moves whole payloads
 * (one encoded message each) and reports when it is closed; it holds no protocol logic.
 */

/** Callbacks a transport delivers to its channel. */
export interface TransportSink {
  /**
   * One complete payload arrived: a buffer, or pieces that form it together, in order (a message port
   * delivers a large binary value as a piece of its own rather than copying it into one buffer).
   */
  message(payload: Payload): void
  /** The transport closed; `error` is set when it closed because of a failure. Called once. */
  closed(error?: Error): void
  /** The transport can take more after `send` returned false. */
  drain(): void
}

/** A bidirectional carrier of payloads: a socket, a stream pair, a MessagePort. */
export interface Transport {
  /**
   * Features of PROTOCOL.md section 5.2 this transport can use if the peer supports them too: they
   * are announced in this side's hello. Read once, before `start`.
   */
  readonly features?: readonly string[]
  /** Starts delivering to `sink`. Called once, before any other method. */
  start(sink: TransportSink): void
  /**
   * The peer's hello arrived: `features` are those in effect (both sides announced them). Called at
   * most once, before any payload the peer sent behind its hello is delivered, and before this side
   * sends anything but its own hello.
   */
  negotiated?(features: ReadonlySet<string>): void
  /**
   * Sends one payload: a buffer, or chunks that form one message together (write them back to back;
   * a transport that cannot, joins them). Payloads leave in the order of the calls.
   * @returns false when the transport's buffer is full; the channel then waits for `drain`.
   */
  send(payload: Payload): boolean
  /** Ends after everything already sent has been written. `closed` follows. */
  close(): void
  /** Ends at once, dropping unsent data. `closed` follows with `error`. */
  destroy(error?: Error): void
  /**
   * Byte-stream transports: the largest frame to accept from the next length prefix on. The channel
   * keeps it at the handshake cap until the peer has sent its last handshake frame.
   */
  limitFrameSize?(bytes: number): void
  /**
   * Stops delivering messages until `resume`: the channel pauses reading when the peer sends faster
   * than it reads the answers, so the pressure reaches the peer instead of this process's memory.
   */
  pause?(): void
  /** Delivers messages again after `pause`. */
  resume?(): void
}
