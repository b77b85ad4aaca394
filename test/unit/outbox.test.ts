import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, test } from 'vitest'
import { BufferFullError, ChannelClosedError } from '../../src/core/errors.js'
import { CONNECTION, FRAME_OVERHEAD, NOTIFICATION, Outbox, type OutboxSink } from '../../src/core/outbox.js'
import { joinPayload, type Payload } from '../../src/protocol/framing.js'

/** A frame of `length` bytes whose first byte is `tag`, so that the order of what was sent shows. */
function frame(tag: number, length = 10): Uint8Array {
  return new Uint8Array(length).fill(tag)
}

/**
 * Lets every pending promise chain run: a macrotask starts only once the microtask queue is empty.
 * Used where a test asserts that a promise has not settled; it waits for no clock.
 */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Tracks whether `promise` has resolved. */
function tracked(promise: Promise<void>): { readonly resolved: boolean } {
  const state = { resolved: false }
  void promise.then(() => {
    state.resolved = true
  })
  return state
}

/** A frame that carries its number in two bytes, for queues longer than 255. */
function numbered(n: number): Uint8Array {
  return new Uint8Array([n >> 8, n & 0xff])
}

/**
 * A sink port recording what the outbox hands it. `accept` decides what each send returns (true: the
 * transport takes more); the frame is recorded either way, as a transport takes a frame it pushes back on.
 */
function recordingSink(accept: (sent: number) => boolean = () => true) {
  const sent: Uint8Array[] = []
  const pressure: boolean[] = []
  const port = {
    accept,
    sink: {
      send: (payload: Payload): boolean => {
        sent.push(joinPayload(payload))
        return port.accept(sent.length)
      },
      backpressure: (over: boolean): void => {
        pressure.push(over)
      },
    } satisfies OutboxSink,
    sent,
    pressure,
    /** The tags of the frames sent, in order. */
    tags: (): number[] => sent.map((payload) => payload[0]),
  }
  return port
}

describe('sending', () => {
  test('a frame goes straight to an open sink that is not congested', () => {
    const outbox = new Outbox(1000, 10)
    const port = recordingSink()
    outbox.open(port.sink)
    outbox.send(frame(1), 1)
    outbox.send(frame(2), NOTIFICATION)
    outbox.send(frame(3), CONNECTION)
    expect(port.tags()).toEqual([1, 2, 3])
    expect(outbox.size).toBe(0)
    expect(outbox.bytes).toBe(0)
    // A call that went straight out cannot be taken back.
    expect(outbox.withdraw(1)).toBe(false)
  })

  test('a chunked payload is counted by its total length, plus the overhead of one frame', () => {
    const outbox = new Outbox(1000, 10)
    outbox.send([frame(1, 3), frame(1, 4)], 1)
    expect(outbox.bytes).toBe(7 + FRAME_OVERHEAD)
    const port = recordingSink()
    outbox.open(port.sink)
    expect(port.sent).toEqual([new Uint8Array([1, 1, 1, 1, 1, 1, 1])])
  })

  test('frames wait, in order, until a sink is opened', () => {
    const outbox = new Outbox(1000, 10)
    outbox.send(frame(1, 5), 1)
    outbox.send(frame(2, 7), NOTIFICATION)
    outbox.send(frame(3, 11), 2)
    expect(outbox.size).toBe(3)
    expect(outbox.bytes).toBe(23 + 3 * FRAME_OVERHEAD)
    const port = recordingSink()
    outbox.open(port.sink)
    expect(port.tags()).toEqual([1, 2, 3])
    expect(outbox.size).toBe(0)
    expect(outbox.bytes).toBe(0)
    outbox.send(frame(4), 3)
    expect(port.tags()).toEqual([1, 2, 3, 4])
  })

  test('after the sink pushes back, frames wait behind it until flush', () => {
    const outbox = new Outbox(1000, 10)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(1), 1)
    // Frame 1 was taken (the transport holds it) but the transport is full now.
    outbox.send(frame(2), 2)
    outbox.send(frame(3), CONNECTION)
    expect(port.tags()).toEqual([1])
    expect(outbox.size).toBe(2)
    port.accept = () => true
    outbox.flush()
    expect(port.tags()).toEqual([1, 2, 3])
    expect(outbox.size).toBe(0)
    // Not congested any more: straight through.
    outbox.send(frame(4), 3)
    expect(port.tags()).toEqual([1, 2, 3, 4])
  })

  test('flush stops at the first refused send and resumes where it stopped on the next flush', () => {
    const outbox = new Outbox(1000, 10)
    for (let tag = 1; tag <= 5; tag++) outbox.send(frame(tag), tag)
    // The second frame written fills the transport.
    const port = recordingSink((sent) => sent !== 2)
    outbox.open(port.sink)
    expect(port.tags()).toEqual([1, 2])
    expect(outbox.size).toBe(3)
    expect(outbox.bytes).toBe(30 + 3 * FRAME_OVERHEAD)
    // Congested: a new frame queues behind the others.
    outbox.send(frame(6), CONNECTION)
    expect(port.tags()).toEqual([1, 2])
    port.accept = (sent) => sent !== 4
    outbox.flush()
    expect(port.tags()).toEqual([1, 2, 3, 4])
    outbox.flush()
    expect(port.tags()).toEqual([1, 2, 3, 4, 5, 6])
    expect(outbox.size).toBe(0)
    expect(outbox.bytes).toBe(0)
  })

  test('flush without a sink does nothing', () => {
    const outbox = new Outbox(1000, 10)
    outbox.send(frame(1), 1)
    outbox.flush()
    expect(outbox.size).toBe(1)
  })
})

describe('withdraw', () => {
  test('takes an unsent call out of size and bytes, and it is never sent', () => {
    const outbox = new Outbox(1000, 10)
    outbox.send(frame(1, 5), 1)
    outbox.send(frame(2, 7), 2)
    outbox.send(frame(3, 11), 3)
    expect(outbox.withdraw(2)).toBe(true)
    expect(outbox.size).toBe(2)
    expect(outbox.bytes).toBe(16 + 2 * FRAME_OVERHEAD)
    // Only once.
    expect(outbox.withdraw(2)).toBe(false)
    expect(outbox.size).toBe(2)
    const port = recordingSink()
    outbox.open(port.sink)
    expect(port.tags()).toEqual([1, 3])
  })

  test('a call that carries references undoes its exports when withdrawn, once; one that was sent never does', () => {
    const outbox = new Outbox(1000, 10)
    const undone: number[] = []
    outbox.send(frame(1), 1, () => undone.push(1))
    outbox.send(frame(2), 2, () => undone.push(2))
    expect(outbox.withdraw(1)).toBe(true)
    expect(outbox.withdraw(1)).toBe(false)
    expect(undone).toEqual([1])
    outbox.open(recordingSink().sink)
    expect(outbox.withdraw(2)).toBe(false)
    expect(undone).toEqual([1])
  })

  test('knows calls only: unknown ids, notifications and connection frames are not withdrawn', () => {
    const outbox = new Outbox(1000, 10)
    outbox.send(frame(1), NOTIFICATION)
    outbox.send(frame(2), CONNECTION)
    expect(outbox.withdraw(7)).toBe(false)
    expect(outbox.withdraw(NOTIFICATION)).toBe(false)
    expect(outbox.withdraw(CONNECTION)).toBe(false)
    expect(outbox.size).toBe(2)
  })

  test('a call already flushed is no longer withdrawable', () => {
    const outbox = new Outbox(1000, 10)
    outbox.send(frame(1), 1)
    outbox.send(frame(2), 2)
    const port = recordingSink((sent) => sent !== 1)
    outbox.open(port.sink)
    expect(port.tags()).toEqual([1])
    expect(outbox.withdraw(1)).toBe(false)
    expect(outbox.withdraw(2)).toBe(true)
    port.accept = () => true
    outbox.flush()
    expect(port.tags()).toEqual([1])
  })

  test('withdrawn frames are skipped by a flush that stops part way, and by the next one', () => {
    const outbox = new Outbox(1000, 10)
    for (let id = 1; id <= 6; id++) outbox.send(frame(id), id)
    outbox.withdraw(2)
    outbox.withdraw(5)
    const port = recordingSink((sent) => sent !== 2)
    outbox.open(port.sink)
    expect(port.tags()).toEqual([1, 3])
    outbox.withdraw(4)
    port.accept = () => true
    outbox.flush()
    expect(port.tags()).toEqual([1, 3, 6])
    expect(outbox.size).toBe(0)
    expect(outbox.bytes).toBe(0)
  })

  test('a withdrawal that brings the bytes under the budget ends backpressure at once; one that leaves them over says nothing', () => {
    // Two held frames of 10 bytes fit, three do not.
    const outbox = new Outbox(25 + 2 * FRAME_OVERHEAD, 100)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(0, 1), CONNECTION)
    for (let id = 1; id <= 4; id++) outbox.send(frame(id, 10), id)
    expect(port.pressure).toEqual([true])
    // Four held, three after this: still over.
    outbox.withdraw(4)
    expect(port.pressure).toEqual([true])
    // Two held: under the budget, and reading resumes without waiting for a send or a flush.
    outbox.withdraw(2)
    expect(outbox.bytes).toBe(20 + 2 * FRAME_OVERHEAD)
    expect(port.pressure).toEqual([true, false])
    outbox.withdraw(1)
    expect(port.pressure).toEqual([true, false])
    // The next crossing is signalled again.
    outbox.send(frame(5, 10), 5)
    outbox.send(frame(6, 10), 6)
    expect(port.pressure).toEqual([true, false, true])
  })

  test('withdrawn entries swept from a long queue leave the live frames in order, after a flush that stopped part way too', () => {
    const count = 3000
    const outbox = new Outbox(Number.MAX_SAFE_INTEGER, count)
    // The transport takes ten frames, then pushes back.
    const port = recordingSink((sent) => sent !== 10)
    for (let id = 1; id <= count; id++) outbox.send(numbered(id), id)
    outbox.open(port.sink)
    expect(port.sent).toHaveLength(10)
    // Every id not divisible by 100 is given up on: far more withdrawn entries than live ones, so the
    // queue is swept while its first ten entries are already written.
    const kept: number[] = []
    for (let id = 11; id <= count; id++) {
      if (id % 100 === 0) kept.push(id)
      else expect(outbox.withdraw(id)).toBe(true)
    }
    expect(outbox.size).toBe(kept.length)
    expect(outbox.bytes).toBe(kept.length * (2 + FRAME_OVERHEAD))
    // The kept calls can still be withdrawn after the sweep.
    expect(outbox.withdraw(kept.pop()!)).toBe(true)
    port.accept = () => true
    outbox.flush()
    const ids = port.sent.map((payload) => (payload[0] << 8) | payload[1])
    expect(ids).toEqual([...Array.from({ length: 10 }, (_, i) => i + 1), ...kept])
    expect(outbox.size).toBe(0)
    expect(outbox.bytes).toBe(0)
  })
})

describe('refuse', () => {
  test('takes anything while an open sink is not congested', () => {
    const outbox = new Outbox(10, 0)
    outbox.open(recordingSink().sink)
    expect(outbox.refuse(frame(1, 1000))).toBeUndefined()
  })

  test('not attached: ChannelClosedError once maxQueuedCalls frames are held', () => {
    const outbox = new Outbox(1000, 2)
    expect(outbox.refuse(frame(1))).toBeUndefined()
    outbox.send(frame(1), 1)
    expect(outbox.refuse(frame(2))).toBeUndefined()
    outbox.send(frame(2), NOTIFICATION)
    const refused = outbox.refuse(frame(3))
    expect(refused).toBeInstanceOf(ChannelClosedError)
    expect((refused as Error).message).toBe('not connected, and 2 calls are already queued (maxQueuedCalls)')
    // A withdrawn call frees its place.
    outbox.withdraw(1)
    expect(outbox.refuse(frame(3))).toBeUndefined()
  })

  test('not attached: BufferFullError when the frame would take the bytes over maxBufferedBytes', () => {
    // Room for three frames of 10, 10 and 5 bytes, each with its overhead.
    const limit = 25 + 3 * FRAME_OVERHEAD
    const outbox = new Outbox(limit, 100)
    outbox.send(frame(1, 10), 1)
    outbox.send(frame(2, 10), 2)
    expect(outbox.bytes).toBe(20 + 2 * FRAME_OVERHEAD)
    // 20 + 5 bytes and three overheads: at the limit is allowed.
    expect(outbox.refuse(frame(3, 5))).toBeUndefined()
    const refused = outbox.refuse(frame(3, 6))
    expect(refused).toBeInstanceOf(BufferFullError)
    expect((refused as Error).message).toBe(`${20 + 2 * FRAME_OVERHEAD} bytes are waiting to be sent; the limit is ${limit} (maxBufferedBytes)`)
    // Chunks count by their total.
    expect(outbox.refuse([frame(3, 3), frame(3, 3)])).toBeInstanceOf(BufferFullError)
  })

  test('attached and congested: the byte budget applies, the count budget does not', () => {
    const limit = 25 + 3 * FRAME_OVERHEAD
    const outbox = new Outbox(limit, 1)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(1, 10), 1)
    outbox.send(frame(2, 10), 2)
    outbox.send(frame(3, 10), 3)
    expect(outbox.size).toBe(2)
    expect(outbox.refuse(frame(4, 5))).toBeUndefined()
    const refused = outbox.refuse(frame(4, 6))
    expect(refused).toBeInstanceOf(BufferFullError)
    expect((refused as Error).message).toBe(`${20 + 2 * FRAME_OVERHEAD} bytes are waiting to be sent; the limit is ${limit} (maxBufferedBytes)`)
  })

  test('the count budget is checked before the byte budget', () => {
    const outbox = new Outbox(5, 1)
    outbox.send(frame(1, 10), 1)
    expect(outbox.refuse(frame(2, 10))).toBeInstanceOf(ChannelClosedError)
  })
})

describe('frame overhead', () => {
  test('is 160 bytes per held frame', () => {
    expect(FRAME_OVERHEAD).toBe(160)
  })

  test('bounds a flood of empty calls by their count, not only by their bytes', () => {
    const outbox = new Outbox(10 * FRAME_OVERHEAD, 1000)
    for (let id = 1; id <= 10; id++) {
      expect(outbox.refuse(frame(id, 0))).toBeUndefined()
      outbox.send(frame(id, 0), id)
    }
    expect(outbox.bytes).toBe(10 * FRAME_OVERHEAD)
    const refused = outbox.refuse(frame(11, 0))
    expect(refused).toBeInstanceOf(BufferFullError)
    expect((refused as Error).message).toBe(
      `${10 * FRAME_OVERHEAD} bytes are waiting to be sent; the limit is ${10 * FRAME_OVERHEAD} (maxBufferedBytes)`,
    )
  })

  test('counts for frames of the connection: tiny answers to a peer that never reads turn on backpressure', () => {
    // Room for ten held pongs of 3 bytes: 33 bytes of payload at the eleventh, far under the budget alone.
    const outbox = new Outbox(10 * (3 + FRAME_OVERHEAD), 1000)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    // The first pong fills the transport; ten more are held and fit the budget, the eleventh does not.
    for (let i = 0; i <= 10; i++) outbox.send(frame(i, 3), CONNECTION)
    expect(outbox.size).toBe(10)
    expect(port.pressure).toEqual([])
    outbox.send(frame(11, 3), CONNECTION)
    expect(port.pressure).toEqual([true])
  })
})

describe('saturated and drained', () => {
  test('saturated without a sink and while the sink pushes back, not while it takes frames', () => {
    const outbox = new Outbox(1000, 10)
    expect(outbox.saturated).toBe(true)
    const port = recordingSink()
    outbox.open(port.sink)
    expect(outbox.saturated).toBe(false)
    port.accept = () => false
    outbox.send(frame(1), CONNECTION)
    expect(outbox.saturated).toBe(true)
    outbox.send(frame(2), CONNECTION)
    outbox.send(frame(3), CONNECTION)
    // A flush that stops part way leaves it saturated.
    port.accept = (sent) => sent !== 2
    outbox.flush()
    expect(outbox.size).toBe(1)
    expect(outbox.saturated).toBe(true)
    port.accept = () => true
    outbox.flush()
    expect(outbox.saturated).toBe(false)
    outbox.detach(true)
    expect(outbox.saturated).toBe(true)
  })

  test('drained() resolves once a flush leaves the outbox writable, not before', async () => {
    const outbox = new Outbox(1000, 10)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(1), CONNECTION)
    outbox.send(frame(2), CONNECTION)
    outbox.send(frame(3), CONNECTION)
    const first = tracked(outbox.drained())
    const second = tracked(outbox.drained())
    port.accept = (sent) => sent !== 2
    outbox.flush()
    await settled()
    expect(first.resolved).toBe(false)
    port.accept = () => true
    outbox.flush()
    await settled()
    // Every producer that waited goes on.
    expect(first.resolved).toBe(true)
    expect(second.resolved).toBe(true)
    // Each waits once: a later one waits for the next drain.
    port.accept = () => false
    outbox.send(frame(4), CONNECTION)
    const later = tracked(outbox.drained())
    await settled()
    expect(later.resolved).toBe(false)
    port.accept = () => true
    outbox.flush()
    await settled()
    expect(later.resolved).toBe(true)
  })

  test('producers waiting while not connected go on when a sink opens and takes what was held', async () => {
    const outbox = new Outbox(1000, 10)
    outbox.send(frame(1), 1)
    const waiting = tracked(outbox.drained())
    outbox.open(recordingSink().sink)
    await settled()
    expect(waiting.resolved).toBe(true)
  })

  test('a sink that opens and pushes back on the held frames wakes no one', async () => {
    const outbox = new Outbox(1000, 10)
    outbox.send(frame(1), 1)
    outbox.send(frame(2), 2)
    const waiting = tracked(outbox.drained())
    outbox.open(recordingSink(() => false).sink)
    await settled()
    expect(outbox.saturated).toBe(true)
    expect(waiting.resolved).toBe(false)
  })

  test('drained() resolves when the connection ends, though the outbox stays saturated', async () => {
    for (const keepUnsent of [true, false]) {
      const outbox = new Outbox(1000, 10)
      const port = recordingSink(() => false)
      outbox.open(port.sink)
      outbox.send(frame(1), CONNECTION)
      outbox.send(frame(2), 2)
      const waiting = tracked(outbox.drained())
      outbox.detach(keepUnsent)
      await settled()
      expect(waiting.resolved).toBe(true)
      expect(outbox.saturated).toBe(true)
    }
  })
})

describe('backpressure', () => {
  test('is signalled once when the bytes go over the budget and once when they fall back under it', () => {
    // Two held frames of 10 bytes fit, three do not.
    const outbox = new Outbox(25 + 2 * FRAME_OVERHEAD, 100)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(0, 1), CONNECTION)
    outbox.send(frame(1, 10), CONNECTION)
    outbox.send(frame(2, 10), CONNECTION)
    expect(port.pressure).toEqual([])
    outbox.send(frame(3, 10), CONNECTION)
    expect(port.pressure).toEqual([true])
    outbox.send(frame(4, 10), CONNECTION)
    outbox.send(frame(5, 10), CONNECTION)
    expect(port.pressure).toEqual([true])
    // A flush that leaves the bytes over the budget says nothing.
    port.accept = (sent) => sent !== 3
    outbox.flush()
    expect(outbox.bytes).toBe(30 + 3 * FRAME_OVERHEAD)
    expect(port.pressure).toEqual([true])
    port.accept = () => true
    outbox.flush()
    expect(outbox.bytes).toBe(0)
    expect(port.pressure).toEqual([true, false])
    outbox.flush()
    expect(port.pressure).toEqual([true, false])
    // A second crossing is a second signal.
    port.accept = () => false
    outbox.send(frame(6, 1), CONNECTION)
    for (let i = 0; i < 3; i++) outbox.send(frame(7, 10), CONNECTION)
    expect(port.pressure).toEqual([true, false, true])
  })

  test('is not signalled for frames held while no sink is attached', () => {
    const outbox = new Outbox(5, 100)
    outbox.send(frame(1, 10), 1)
    const port = recordingSink()
    outbox.open(port.sink)
    expect(port.tags()).toEqual([1])
    expect(port.pressure).toEqual([])
  })
})

describe('sendBeforeGoodbye', () => {
  test('writes connection frames and notifications, whatever the congestion, and leaves calls', () => {
    const outbox = new Outbox(1000, 100)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(1), 1)
    outbox.send(frame(2, 5), 2)
    outbox.send(frame(3), CONNECTION)
    outbox.send(frame(4), NOTIFICATION)
    outbox.send(frame(5, 7), 5)
    expect(port.tags()).toEqual([1])
    outbox.sendBeforeGoodbye()
    expect(port.tags()).toEqual([1, 3, 4])
    expect(outbox.size).toBe(2)
    expect(outbox.bytes).toBe(12 + 2 * FRAME_OVERHEAD)
    // The calls are still there, and only they.
    expect(outbox.detach(true)).toEqual(new Set([2, 5]))
    expect(outbox.size).toBe(2)
  })

  test('does nothing without a sink', () => {
    const outbox = new Outbox(1000, 100)
    outbox.send(frame(1), NOTIFICATION)
    outbox.sendBeforeGoodbye()
    expect(outbox.size).toBe(1)
  })
})

describe('detach', () => {
  /** An outbox behind a congested sink holding a call, a connection frame, a notification and a call. */
  function heldMixture() {
    const outbox = new Outbox(1000, 100)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(9), CONNECTION)
    outbox.send(frame(1, 3), 1)
    outbox.send(frame(2, 5), CONNECTION)
    outbox.send(frame(3, 7), NOTIFICATION)
    outbox.send(frame(4, 11), 4)
    expect(port.tags()).toEqual([9])
    return { outbox, port }
  }

  test('detach(true) keeps calls and notifications, in order, drops connection frames, and returns the kept call ids', () => {
    const { outbox, port } = heldMixture()
    expect(outbox.detach(true)).toEqual(new Set([1, 4]))
    expect(outbox.size).toBe(3)
    expect(outbox.bytes).toBe(21 + 3 * FRAME_OVERHEAD)
    // Not attached any more: new frames wait, and the count budget applies.
    outbox.send(frame(5, 1), 5)
    expect(port.tags()).toEqual([9])
    // Kept calls can still be withdrawn.
    expect(outbox.withdraw(4)).toBe(true)
    expect(outbox.bytes).toBe(11 + 3 * FRAME_OVERHEAD)
    const next = recordingSink()
    outbox.open(next.sink)
    expect(next.tags()).toEqual([1, 3, 5])
  })

  test('detach(false) drops everything', () => {
    const { outbox } = heldMixture()
    expect(outbox.detach(false)).toEqual(new Set())
    expect(outbox.size).toBe(0)
    expect(outbox.bytes).toBe(0)
    expect(outbox.withdraw(1)).toBe(false)
    const next = recordingSink()
    outbox.open(next.sink)
    expect(next.sent).toEqual([])
  })

  test('calls and notifications that carry references belong to their connection: never kept', () => {
    const outbox = new Outbox(1000, 100)
    outbox.open(recordingSink(() => false).sink)
    outbox.send(frame(9), CONNECTION)
    const undo = (): void => {
      throw new Error('not undone at detach: the references end with their connection')
    }
    outbox.send(frame(1), 1, undo)
    outbox.send(frame(2), NOTIFICATION, undo)
    outbox.send(frame(3), 3)
    outbox.send(frame(4), NOTIFICATION)
    expect(outbox.detach(true)).toEqual(new Set([3]))
    const next = recordingSink()
    outbox.open(next.sink)
    expect(next.tags()).toEqual([3, 4])
  })

  test('withdrawn calls are not kept', () => {
    const { outbox } = heldMixture()
    outbox.withdraw(1)
    expect(outbox.detach(true)).toEqual(new Set([4]))
    expect(outbox.size).toBe(2)
  })

  test('a detached outbox is not congested when the next sink opens', () => {
    const { outbox } = heldMixture()
    outbox.detach(true)
    const next = recordingSink()
    outbox.open(next.sink)
    outbox.send(frame(6), CONNECTION)
    expect(next.tags()).toEqual([1, 3, 4, 6])
  })
})

/**
 * Runs `body` with the iterating methods of Array.prototype counting the elements of every array they are
 * called on: a measure of the work done on arrays that does not depend on the clock.
 */
function countArrayWork(body: () => void): number {
  const methods = [
    'filter',
    'slice',
    'splice',
    'indexOf',
    'lastIndexOf',
    'includes',
    'find',
    'findIndex',
    'findLast',
    'findLastIndex',
    'some',
    'every',
    'forEach',
    'map',
    'reduce',
    'shift',
    'unshift',
    'copyWithin',
  ] as const
  const proto = Array.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  const originals = methods.map((name) => proto[name])
  let work = 0
  methods.forEach((name, i) => {
    const original = originals[i]
    proto[name] = function (this: unknown[], ...args: unknown[]) {
      work += this.length
      return original.apply(this, args)
    }
  })
  try {
    body()
  } finally {
    methods.forEach((name, i) => {
      proto[name] = originals[i]
    })
  }
  return work
}

describe('cost', () => {
  test('50,000 calls behind a congested sink, withdrawn in reverse order, cost linear work', () => {
    const count = 50_000
    const outbox = new Outbox(Number.MAX_SAFE_INTEGER, count)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(0), CONNECTION)
    const payload = frame(1, 8)
    for (let id = 1; id <= count; id++) outbox.send(payload, id)
    expect(outbox.size).toBe(count)
    expect(outbox.bytes).toBe(count * (8 + FRAME_OVERHEAD))
    let withdrawn = 0
    const started = performance.now()
    const work = countArrayWork(() => {
      for (let id = count; id >= 1; id--) if (outbox.withdraw(id)) withdrawn++
    })
    console.log(`withdrew ${count} queued calls in ${(performance.now() - started).toFixed(1)} ms; ${work} array elements visited`)
    expect(withdrawn).toBe(count)
    expect(outbox.size).toBe(0)
    expect(outbox.bytes).toBe(0)
    // Sweeping withdrawn entries when they outnumber the live ones visits each entry a bounded number
    // of times; scanning for each withdrawn call would visit about count^2 / 2 = 1.25e9.
    expect(work).toBeLessThanOrEqual(4 * count)
    // None of the withdrawn calls reaches the sink.
    port.accept = () => true
    outbox.flush()
    expect(port.sent).toHaveLength(1)
  })

  test('calls queued and withdrawn over and over behind a sink that never drains do not pile up', () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const outbox = new Outbox(1000, 100)
    const port = recordingSink(() => false)
    outbox.open(port.sink)
    outbox.send(frame(0), CONNECTION)
    // One call that stays queued throughout, so that the queue is never simply emptied.
    outbox.send(frame(1), 1)
    const payload = frame(2, 8)
    const cycles = 500_000
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    for (let id = 2; id < cycles + 2; id++) {
      outbox.send(payload, id)
      if (!outbox.withdraw(id)) throw new Error(`call ${id} could not be withdrawn`)
    }
    gc()
    const grown = process.memoryUsage().heapUsed - heapBefore
    console.log(`heap after ${cycles} queue-and-withdraw cycles: ${grown} bytes more`)
    expect(outbox.size).toBe(1)
    expect(outbox.bytes).toBe(10 + FRAME_OVERHEAD)
    // An entry kept per withdrawn call would hold about 20 MB here.
    expect(grown).toBeLessThan(5 * 1024 * 1024)
    port.accept = () => true
    outbox.flush()
    expect(port.tags()).toEqual([0, 1])
  })
})
