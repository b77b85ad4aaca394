/**
 * An in-memory transport pair for unit tests of the core: payloads are delivered asynchronously and
 * in order, and each side can be told to hold back, drop, or corrupt what it sends, or to fail.
 */
import type { Transport, TransportSink } from '../../src/core/transport.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'

export class MemoryTransport implements Transport {
  peer!: MemoryTransport
  sink: TransportSink | undefined
  closed = false
  /** Payloads sent by this side, as sent (after `mutate`). */
  readonly sent: Uint8Array[] = []
  /** When true, outgoing payloads are held until `release()`. */
  holding = false
  /** When set, every outgoing payload goes through it; returning undefined drops the payload. */
  mutate: ((payload: Uint8Array) => Uint8Array | undefined) | undefined
  readonly #held: Uint8Array[] = []
  /** Payloads that arrived before `start`. */
  readonly #early: Uint8Array[] = []

  start(sink: TransportSink): void {
    this.sink = sink
    for (const payload of this.#early.splice(0)) sink.message(payload)
  }

  send(chunks: Payload): boolean {
    if (this.closed) return false
    // A copy, as a real transport would deliver: the sender may reuse its buffers.
    const payload = joinPayload(chunks).slice()
    const out = this.mutate ? this.mutate(payload) : payload
    if (!out) return true
    this.sent.push(out)
    if (this.holding) this.#held.push(out)
    else this.#deliver(out)
    return true
  }

  /** Sends raw bytes as one payload, bypassing any codec: for injecting hostile input. */
  inject(payload: Uint8Array): void {
    this.#deliver(payload)
  }

  release(): void {
    this.holding = false
    for (const payload of this.#held.splice(0)) this.#deliver(payload)
  }

  close(): void {
    queueMicrotask(() => this.#end(undefined))
  }

  destroy(error?: Error): void {
    this.#end(error)
  }

  #deliver(payload: Uint8Array): void {
    queueMicrotask(() => {
      if (this.closed || this.peer.closed) return
      if (this.peer.sink) this.peer.sink.message(payload)
      else this.peer.#early.push(payload)
    })
  }

  #end(error: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    this.sink?.closed(error)
    queueMicrotask(() => {
      if (!this.peer.closed) {
        this.peer.closed = true
        this.peer.sink?.closed()
      }
    })
  }
}

/** Two connected in-memory transports. */
export function memoryPair(): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport()
  const b = new MemoryTransport()
  a.peer = b
  b.peer = a
  return [a, b]
}
