/**
 * Frames waiting to be written: before the handshake, while a client reconnects, and while the
 * transport pushes back. Owns the byte budget (maxBufferedBytes) and the count budget (maxQueuedCalls)
 * of everything this side holds for the peer, and knows who sent each frame.
 */
import { payloadLength, type Payload } from '../protocol/framing.js'
import { BufferFullError, ChannelClosedError } from './errors.js'
import { IdMap } from './id-map.js'

/** Who queued a frame: a call id (> 0), a notification, or the connection itself (answers, credit, pings). */
export type Sender = number
/** A notification: survives a reconnect, like a call, but has no id to withdraw it by. */
export const NOTIFICATION: Sender = 0
/** Answers, stream frames, credit, pings: meaningful on the connection they were made for only. */
export const CONNECTION: Sender = -1

/** Where an open connection takes frames. */
export interface OutboxSink {
  /** Writes a frame. @returns false when the transport is full: the outbox then waits for {@link Outbox.flush}. */
  send(payload: Payload): boolean
  /** Told when the held bytes cross the budget (true) and fall back under it (false). */
  backpressure(over: boolean): void
}

interface Entry {
  /** undefined once withdrawn. */
  payload: Payload | undefined
  readonly sender: Sender
  readonly cost: number
  /**
   * Set for a frame that carries references: it belongs to the connection it was made for (never
   * kept for another), and this undoes its exports when it is taken back unsent.
   */
  readonly undo: (() => void) | undefined
}

/**
 * What holding one frame costs beyond its bytes: the entry, the Uint8Array view and its share of the
 * encoder's buffer, about 160 bytes of heap as measured on Node 20. Counted against maxBufferedBytes so
 * that a flood of tiny frames (pongs to a peer that pings and never reads) is bounded by memory, not
 * by payload bytes, which were a fiftieth of it.
 */
export const FRAME_OVERHEAD = 160

/** Queue entries left behind by flushes before the array is compacted. */
const COMPACT_AFTER = 1024

/**
 * Frames in order, each with its sender. A frame goes straight to the sink when one is open and not
 * congested; otherwise it waits here. An unsent call can be taken back in O(1) (abort, timeout).
 */
export class Outbox {
  readonly #maxBufferedBytes: number
  readonly #maxQueuedCalls: number
  #sink: OutboxSink | undefined
  /** The sink refused more (send returned false): frames wait until it drains. */
  #congested = false
  #over = false
  #queue: Entry[] = []
  /** Index of the first entry not yet written. */
  #head = 0
  /** Entries queued and not withdrawn. */
  #live = 0
  #bytes = 0
  /** Unsent calls by id, for withdrawal. */
  readonly #calls = new IdMap<Entry>()
  /** Producers waiting for the outbox to be writable again (see drained()). */
  #drainWaiters: (() => void)[] = []

  constructor(maxBufferedBytes: number, maxQueuedCalls: number) {
    this.#maxBufferedBytes = maxBufferedBytes
    this.#maxQueuedCalls = maxQueuedCalls
  }

  /** What the held frames cost: their bytes plus FRAME_OVERHEAD each. */
  get bytes(): number {
    return this.#bytes
  }

  /** Frames held. */
  get size(): number {
    return this.#live
  }

  /**
   * Nothing should be added that can wait: there is no open sink, or the sink pushed back (frames are
   * held only then, so held bytes over the budget imply it). Stream pumps and progress reports wait
   * for {@link drained} instead.
   */
  get saturated(): boolean {
    return this.#sink === undefined || this.#congested
  }

  /** Resolves once the outbox is no longer saturated, or when the connection ends. */
  drained(): Promise<void> {
    return new Promise((resolve) => this.#drainWaiters.push(resolve))
  }

  /**
   * Why a new call or notification cannot be taken: too many held while not connected
   * (ChannelClosedError), or too many bytes held (BufferFullError). undefined when it can.
   */
  refuse(payload: Payload): Error | undefined {
    if (this.#sink !== undefined && !this.#congested) return undefined
    if (this.#sink === undefined && this.#live >= this.#maxQueuedCalls) {
      return new ChannelClosedError(`not connected, and ${this.#live} calls are already queued (maxQueuedCalls)`)
    }
    if (this.#bytes + payloadLength(payload) + FRAME_OVERHEAD > this.#maxBufferedBytes) {
      return new BufferFullError(`${this.#bytes} bytes are waiting to be sent; the limit is ${this.#maxBufferedBytes} (maxBufferedBytes)`)
    }
    return undefined
  }

  /**
   * @returns `payload` when a new call or notification can be taken (see {@link refuse}).
   * @throws the refusal otherwise, once `references` undid what encoding the payload exported.
   */
  admit(payload: Payload, references: { discard(payload: Payload): void } | undefined): Payload {
    const refused = this.refuse(payload)
    if (refused) {
      references?.discard(payload)
      throw refused
    }
    return payload
  }

  /**
   * Writes `payload` now when a sink takes it; otherwise holds it, in order.
   * @param undo given for a frame that carries references: see {@link Entry.undo}.
   */
  send(payload: Payload, sender: Sender, undo?: () => void): void {
    const sink = this.#sink
    if (sink !== undefined && !this.#congested) {
      if (!sink.send(payload)) this.#congested = true
      return
    }
    const entry: Entry = { payload, sender, cost: payloadLength(payload) + FRAME_OVERHEAD, undo }
    this.#queue.push(entry)
    this.#live++
    this.#bytes += entry.cost
    if (sender > 0) this.#calls.set(sender, entry)
    if (sink !== undefined) this.#updatePressure()
  }

  /** A connection opened: held frames go out, then new ones go straight through. */
  open(sink: OutboxSink): void {
    this.#sink = sink
    this.#over = false
    this.flush()
  }

  /** Writes held frames until the sink pushes back again; called on open and on drain. */
  flush(): void {
    const sink = this.#sink
    if (sink === undefined) return
    this.#congested = false
    const queue = this.#queue
    while (this.#head < queue.length) {
      const entry = queue[this.#head++]
      const payload = entry.payload
      if (payload === undefined) continue
      this.#forget(entry)
      if (!sink.send(payload)) {
        this.#congested = true
        break
      }
    }
    this.#compact()
    if (this.#over) this.#updatePressure()
    if (!this.saturated) this.#wakeProducers()
  }

  #wakeProducers(): void {
    if (this.#drainWaiters.length === 0) return
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const wake of waiters) wake()
  }

  /** Takes back the unsent call `id`. @returns whether it was still here. */
  withdraw(id: number): boolean {
    const entry = this.#calls.get(id)
    if (entry === undefined) return false
    this.#forget(entry)
    entry.payload = undefined
    entry.undo?.()
    if (this.#over) this.#updatePressure()
    // Withdrawn entries are swept once they outnumber the live ones, so that calls queued and given up
    // on behind a peer that never reads cannot grow the queue: amortised O(1) per withdrawal.
    const dead = this.#queue.length - this.#head - this.#live
    if (dead >= COMPACT_AFTER && dead > this.#live) {
      this.#queue = this.#queue.filter((queued, i) => i >= this.#head && queued.payload !== undefined)
      this.#head = 0
    }
    return true
  }

  /**
   * Graceful close: writes what this side already promised (answers, stream frames, credit, accepted
   * notifications) ahead of the goodbye, whatever the congestion; calls that were never sent stay, for
   * {@link detach} to report.
   */
  sendBeforeGoodbye(): void {
    const sink = this.#sink
    if (sink === undefined) return
    for (let i = this.#head; i < this.#queue.length; i++) {
      const entry = this.#queue[i]
      if (entry.payload !== undefined && entry.sender <= 0) {
        sink.send(entry.payload)
        this.#forget(entry)
        entry.payload = undefined
      }
    }
  }

  /**
   * The connection ended. Frames tied to it are dropped; with `keepUnsent`, calls and notifications
   * that carry no reference stay for the next connection, else everything is dropped.
   * @returns the ids of the calls kept.
   */
  detach(keepUnsent: boolean): ReadonlySet<number> {
    this.#sink = undefined
    this.#congested = false
    this.#over = false
    const kept = new Set<number>()
    const queue: Entry[] = []
    if (keepUnsent) {
      for (let i = this.#head; i < this.#queue.length; i++) {
        const entry = this.#queue[i]
        // A frame with references names the ended connection's ids: meaningless on the next one.
        if (entry.payload === undefined || entry.sender === CONNECTION || entry.undo !== undefined) continue
        queue.push(entry)
        if (entry.sender > 0) kept.add(entry.sender)
      }
    }
    this.#queue = queue
    this.#head = 0
    this.#live = queue.length
    this.#bytes = 0
    for (const entry of queue) this.#bytes += entry.cost
    this.#calls.clear()
    for (const entry of queue) if (entry.sender > 0) this.#calls.set(entry.sender, entry)
    this.#wakeProducers()
    return kept
  }

  #forget(entry: Entry): void {
    this.#live--
    this.#bytes -= entry.cost
    if (entry.sender > 0) this.#calls.delete(entry.sender)
  }

  /** Drops written entries from the front, in amortised O(1) per entry. */
  #compact(): void {
    if (this.#head === this.#queue.length) {
      if (this.#head > 0) {
        this.#queue = []
        this.#head = 0
      }
    } else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  #updatePressure(): void {
    const over = this.#bytes > this.#maxBufferedBytes
    if (over !== this.#over) {
      this.#over = over
      this.#sink!.backpressure(over)
    }
  }
}
