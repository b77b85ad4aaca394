import pDefer, { type DeferredPromise } from 'p-defer'
import { describe, expect, test } from 'vitest'
import { BufferFullError, ProtocolError } from '../../src/core/errors.js'
import { IncomingCalls, type IncomingLimits } from '../../src/core/incoming-calls.js'
import { DEFAULT_MAX_FRAME_SIZE } from '../../src/core/options.js'
import type { Handler } from '../../src/core/registry.js'
import { Codec } from '../../src/protocol/codec.js'
import { MessageEncoder } from '../../src/protocol/encoder.js'
import { joinPayload } from '../../src/protocol/framing.js'
import { MessageType } from '../../src/protocol/messages.js'

/** What a handler exposed with `{ context: true }` receives first. */
interface Context {
  readonly channel: unknown
  readonly signal: AbortSignal
  progress(value: unknown): void
}

/**
 * Lets every pending promise chain run: a macrotask starts only once the microtask queue is empty.
 * Used where a test asserts that nothing more happens; it waits for no clock.
 */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * IncomingCalls over ports that record: `frames` are the decoded frames given to `send`, `reports` the
 * errors given to `report`. Handlers are registered with `expose`.
 */
function setup(limits: Partial<IncomingLimits> = {}, peerWindow = 64) {
  const codec = new Codec()
  const handlers = new Map<string, { fn: Handler; thisArg: unknown; context: boolean }>()
  const frames: unknown[][] = []
  const reports: Error[] = []
  /** `saturated` stands for a full outbox; resolving `drainWaiter` stands for it draining. */
  const state = { connected: true, saturated: false }
  let drainWaiter = pDefer<void>()
  const waiting: { count: number; deferred: DeferredPromise<void> }[] = []
  /** `sent`, when set, is called with each frame as it is sent, before send() returns. */
  const hooks: { sent?: (frame: unknown[]) => void } = {}
  const channel = { name: 'the channel' }
  const incoming = new IncomingCalls(
    {
      channel,
      encoder: new MessageEncoder(new Codec(), DEFAULT_MAX_FRAME_SIZE),
      lookup: (name) => handlers.get(name),
      lookupReference: ({ ref, member }) => handlers.get(`${ref}.${member}`)!,
      undoOf: () => undefined,
      hint: () => '',
      send: (payload) => {
        const frame = codec.decode(joinPayload(payload)) as unknown[]
        frames.push(frame)
        hooks.sent?.(frame)
        for (const waiter of waiting.splice(0)) {
          if (frames.length >= waiter.count) waiter.deferred.resolve()
          else waiting.push(waiter)
        }
      },
      connected: () => state.connected,
      saturated: () => state.saturated,
      drained: () => drainWaiter.promise,
      report: (error) => {
        reports.push(error)
      },
    },
    {
      maxConcurrentCalls: limits.maxConcurrentCalls ?? 1024,
      maxWaitingCalls: limits.maxWaitingCalls ?? 1024,
      maxBufferedBytes: limits.maxBufferedBytes ?? DEFAULT_MAX_FRAME_SIZE,
    },
    peerWindow,
  )
  return {
    incoming,
    channel,
    frames,
    reports,
    state,
    hooks,
    /** The outbox drains: producers waiting for it go on. */
    drain(): void {
      state.saturated = false
      const waiter = drainWaiter
      drainWaiter = pDefer<void>()
      waiter.resolve()
    },
    expose(name: string, fn: Handler, options: { context?: boolean; thisArg?: unknown } = {}) {
      handlers.set(name, { fn, thisArg: options.thisArg, context: options.context ?? false })
    },
    /** Resolves once `count` frames in all have been sent. */
    framesSent(count: number): Promise<void> {
      if (frames.length >= count) return Promise.resolve()
      const deferred = pDefer<void>()
      waiting.push({ count, deferred })
      return deferred.promise
    },
  }
}

/** A handler whose calls each wait for the test to settle them, in the order they started. */
function controlledHandler() {
  const started: { args: unknown[]; deferred: DeferredPromise<unknown> }[] = []
  const fn = (...args: unknown[]) => {
    const deferred = pDefer<unknown>()
    started.push({ args, deferred })
    return deferred.promise
  }
  return { fn, started, startedArgs: () => started.map((call) => call.args[0]) }
}

describe('calls', () => {
  test('a handler runs with the arguments and its thisArg, and its value is the result', () => {
    const { incoming, frames, expose } = setup()
    const api = { factor: 3 }
    expose(
      'times',
      function (this: typeof api, a: number, b: number) {
        return this.factor * a * b
      },
      { thisArg: api },
    )
    incoming.call(1, 'times', [2, 5], 16)
    expect(frames).toEqual([[MessageType.Result, 1, 30]])
    expect(incoming.running).toBe(0)
  })

  test('a promise is answered once it resolves, and holds a slot until then', async () => {
    const { incoming, frames, expose, framesSent } = setup()
    const handler = controlledHandler()
    expose('later', handler.fn)
    incoming.call(7, 'later', ['x'], 16)
    expect(incoming.running).toBe(1)
    expect(frames).toEqual([])
    handler.started[0].deferred.resolve({ done: true })
    await framesSent(1)
    expect(frames).toEqual([[MessageType.Result, 7, { done: true }]])
    expect(incoming.running).toBe(0)
  })

  test('a throwing handler is answered with an error frame carrying its envelope', () => {
    const { incoming, frames, expose } = setup()
    expose('fails', () => {
      throw Object.assign(new RangeError('out of range'), { code: 'E_RANGE' })
    })
    incoming.call(3, 'fails', [], 16)
    expect(frames).toHaveLength(1)
    const [type, id, envelope] = frames[0] as [number, number, Record<string, unknown>]
    expect([type, id]).toEqual([MessageType.Error, 3])
    expect(envelope).toMatchObject({ type: 'error', name: 'RangeError', message: 'out of range', props: { code: 'E_RANGE' } })
    expect(envelope.stack).toMatch(/^RangeError: out of range\n/)
  })

  test('a rejected promise, and a thrown value that is not an error, are answered too', async () => {
    const { incoming, frames, expose, framesSent } = setup()
    expose('rejects', () => Promise.reject(new TypeError('nope')))
    expose('throwsString', () => {
      throw 'just a string'
    })
    incoming.call(1, 'rejects', [], 16)
    incoming.call(2, 'throwsString', [], 16)
    await framesSent(2)
    expect(frames).toContainEqual([MessageType.Error, 2, { type: 'value', value: 'just a string' }])
    expect(frames).toContainEqual([MessageType.Error, 1, expect.objectContaining({ type: 'error', name: 'TypeError', message: 'nope' })])
    expect(incoming.running).toBe(0)
  })

  test('an unknown name is answered with MethodNotFoundError', () => {
    const { incoming, frames } = setup()
    incoming.call(4, 'missing', [1], 16)
    expect(frames).toHaveLength(1)
    expect(frames[0][0]).toBe(MessageType.Error)
    expect(frames[0][1]).toBe(4)
    expect(frames[0][2]).toMatchObject({
      type: 'error',
      name: 'MethodNotFoundError',
      message: 'method not found: "missing"',
      props: { code: 'ERR_METHOD_NOT_FOUND', method: 'missing' },
    })
  })

  test('nothing is sent while not connected', async () => {
    const { incoming, frames, expose, state } = setup()
    const handler = controlledHandler()
    expose('later', handler.fn)
    expose('now', () => 1)
    incoming.call(1, 'later', [], 16)
    state.connected = false
    incoming.call(2, 'now', [], 16)
    incoming.call(3, 'missing', [], 16)
    handler.started[0].deferred.resolve('late')
    await settled()
    expect(frames).toEqual([])
    expect(incoming.running).toBe(0)
  })

  test('a call whose id is still running is a ProtocolError', async () => {
    const { incoming, expose, framesSent } = setup()
    const handler = controlledHandler()
    expose('later', handler.fn)
    incoming.call(1, 'later', [], 16)
    expect(() => incoming.call(1, 'later', [], 16)).toThrow(new ProtocolError('call id 1 is already running'))
    expect(() => incoming.call(1, 'later', [], 16)).toThrow(ProtocolError)
    expect(handler.started).toHaveLength(1)
    // Once answered, the id is free again.
    handler.started[0].deferred.resolve('done')
    await framesSent(1)
    incoming.call(1, 'later', [], 16)
    expect(handler.started).toHaveLength(2)
  })
})

describe('context', () => {
  test('a context handler gets the channel, a live signal and progress before its other arguments', async () => {
    const { incoming, frames, expose, channel, framesSent } = setup()
    let seen: Context | undefined
    const done = pDefer<string>()
    expose(
      'work',
      (context: Context, a: number) => {
        seen = context
        context.progress(a + 1)
        // Progress works unbound, as documented.
        const { progress } = context
        progress(a + 2)
        return done.promise
      },
      { context: true },
    )
    incoming.call(5, 'work', [10], 16)
    expect(seen!.channel).toBe(channel)
    expect(seen!.signal).toBeInstanceOf(AbortSignal)
    expect(seen!.signal.aborted).toBe(false)
    expect(frames).toEqual([
      [MessageType.Progress, 5, 11],
      [MessageType.Progress, 5, 12],
    ])
    done.resolve('finished')
    await framesSent(3)
    // Progress after the handler finished would follow its result: dropped.
    seen!.progress('too late')
    await settled()
    expect(frames).toEqual([
      [MessageType.Progress, 5, 11],
      [MessageType.Progress, 5, 12],
      [MessageType.Result, 5, 'finished'],
    ])
  })

  test('a context handler that throws at once answers with an error and frees its slot', () => {
    const { incoming, frames, expose } = setup()
    expose(
      'fails',
      () => {
        throw new Error('at once')
      },
      { context: true },
    )
    incoming.call(2, 'fails', [], 16)
    expect(frames[0]).toEqual([MessageType.Error, 2, expect.objectContaining({ message: 'at once' })])
    expect(incoming.running).toBe(0)
  })
})

describe('maxConcurrentCalls', () => {
  test('further calls wait and start in arrival order as slots free up', async () => {
    const { incoming, frames, expose, framesSent } = setup({ maxConcurrentCalls: 2 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    for (let id = 1; id <= 4; id++) incoming.call(id, 'work', [id], 16)
    expect(handler.startedArgs()).toEqual([1, 2])
    expect(incoming.running).toBe(2)
    expect(incoming.waiting).toBe(2)

    handler.started[0].deferred.resolve('one')
    await framesSent(1)
    await settled()
    expect(handler.startedArgs()).toEqual([1, 2, 3])
    expect(incoming.waiting).toBe(1)

    // A call that arrives while others wait queues behind them, even when a slot is about to free up.
    incoming.call(5, 'work', [5], 16)
    handler.started[1].deferred.resolve('two')
    await framesSent(2)
    await settled()
    expect(handler.startedArgs()).toEqual([1, 2, 3, 4])
    handler.started[2].deferred.resolve('three')
    await framesSent(3)
    await settled()
    expect(handler.startedArgs()).toEqual([1, 2, 3, 4, 5])
    expect(incoming.waiting).toBe(0)
    expect(incoming.running).toBe(2)
    expect(frames.map((frame) => frame[1])).toEqual([1, 2, 3])
  })

  test('a call arriving just as a slot frees does not overtake the calls that wait', async () => {
    const { incoming, expose, hooks } = setup({ maxConcurrentCalls: 1 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    incoming.call(1, 'work', [1], 16)
    incoming.call(2, 'work', [2], 16)
    // Call 1 is answered as its slot frees, and the waiting call starts a microtask later: call 3
    // arrives in between, finds the slot free, and still queues behind call 2.
    const when = { running: -1, started: [] as unknown[] }
    hooks.sent = () => {
      hooks.sent = undefined
      when.running = incoming.running
      incoming.call(3, 'work', [3], 16)
      when.started = handler.startedArgs()
    }
    handler.started[0].deferred.resolve('one')
    await settled()
    expect(when).toEqual({ running: 0, started: [1] })
    expect(handler.startedArgs()).toEqual([1, 2])
    expect(incoming.waiting).toBe(1)
  })

  test('handlers that return at once take no slot', () => {
    const { incoming, frames, expose } = setup({ maxConcurrentCalls: 1, maxWaitingCalls: 0 })
    expose('now', (x: number) => x)
    for (let id = 1; id <= 3; id++) incoming.call(id, 'now', [id], 16)
    expect(frames.map((frame) => frame[0])).toEqual([MessageType.Result, MessageType.Result, MessageType.Result])
  })

  test('waiting calls do not start while not connected', async () => {
    const { incoming, expose, state } = setup({ maxConcurrentCalls: 1 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    incoming.call(1, 'work', [1], 16)
    incoming.call(2, 'work', [2], 16)
    state.connected = false
    handler.started[0].deferred.resolve('one')
    await settled()
    expect(handler.startedArgs()).toEqual([1])
    expect(incoming.waiting).toBe(1)
  })
})

describe('maxWaitingCalls', () => {
  test('a call beyond it is answered with BufferFullError and never runs', () => {
    const { incoming, frames, expose } = setup({ maxConcurrentCalls: 1, maxWaitingCalls: 2 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    for (let id = 1; id <= 4; id++) incoming.call(id, 'work', [id], 16)
    expect(handler.startedArgs()).toEqual([1])
    expect(incoming.waiting).toBe(2)
    expect(frames).toEqual([
      [
        MessageType.Error,
        4,
        expect.objectContaining({
          name: 'BufferFullError',
          message: '2 calls already wait for a handler slot (maxWaitingCalls)',
          props: { code: new BufferFullError().code },
        }),
      ],
    ])
  })
})

describe('cancel', () => {
  test('a waiting call is removed: it never runs and nothing is sent for it', async () => {
    const { incoming, frames, expose, framesSent } = setup({ maxConcurrentCalls: 1 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    incoming.call(1, 'work', [1], 16)
    incoming.call(2, 'work', [2], 16)
    incoming.call(3, 'work', [3], 16)
    let reasonAsked = false
    incoming.cancel(2, () => {
      reasonAsked = true
      return new Error('never mind')
    })
    // The reason is rebuilt only for a running call.
    expect(reasonAsked).toBe(false)
    expect(incoming.waiting).toBe(1)
    handler.started[0].deferred.resolve('one')
    await framesSent(1)
    await settled()
    expect(handler.startedArgs()).toEqual([1, 3])
    expect(frames.map((frame) => frame[1])).toEqual([1])
  })

  test('a running call: its signal aborts with the reason, its answer is not sent, and it keeps its slot until its handler ends', async () => {
    const { incoming, frames, expose } = setup({ maxConcurrentCalls: 1 })
    let signal: AbortSignal | undefined
    const done = pDefer<string>()
    expose(
      'work',
      (context: Context) => {
        signal = context.signal
        return done.promise
      },
      { context: true },
    )
    const other = controlledHandler()
    expose('other', other.fn)
    incoming.call(1, 'work', [], 16)
    incoming.call(2, 'other', ['second'], 16)
    const reason = new Error('caller gave up')
    incoming.cancel(1, () => reason)
    expect(signal!.aborted).toBe(true)
    expect(signal!.reason).toBe(reason)
    // The handler ignores its signal and runs on: its slot stays taken, the waiting call waits.
    expect(incoming.running).toBe(1)
    await settled()
    expect(other.startedArgs()).toEqual([])
    expect(incoming.waiting).toBe(1)
    done.resolve('finished anyway')
    await settled()
    expect(other.startedArgs()).toEqual(['second'])
    expect(incoming.running).toBe(1)
    expect(incoming.waiting).toBe(0)
    expect(frames).toEqual([])
  })

  test('a signal first looked at after the cancel is already aborted with the reason', () => {
    const { incoming, expose } = setup()
    let context: Context | undefined
    expose(
      'work',
      (ctx: Context) => {
        context = ctx
        return new Promise(() => {})
      },
      { context: true },
    )
    incoming.call(1, 'work', [], 16)
    incoming.cancel(1, () => 'the reason')
    expect(context!.signal.aborted).toBe(true)
    expect(context!.signal.reason).toBe('the reason')
  })

  test('progress after a cancel is not sent', () => {
    const { incoming, frames, expose } = setup()
    let context: Context | undefined
    expose(
      'work',
      (ctx: Context) => {
        context = ctx
        return new Promise(() => {})
      },
      { context: true },
    )
    incoming.call(1, 'work', [], 16)
    incoming.cancel(1, () => 'stop')
    context!.progress(50)
    expect(frames).toEqual([])
  })

  test('unknown ids are ignored', () => {
    const { incoming } = setup()
    expect(() => incoming.cancel(99, () => 'nothing')).not.toThrow()
    expect(() => incoming.credit(99, 5)).not.toThrow()
  })

  test('cancelAll drops waiting calls and aborts running handlers with the reason', async () => {
    const { incoming, frames, expose } = setup({ maxConcurrentCalls: 1 })
    let signal: AbortSignal | undefined
    const done = pDefer<string>()
    expose(
      'work',
      (context: Context) => {
        signal = context.signal
        return done.promise
      },
      { context: true },
    )
    incoming.call(1, 'work', [], 16)
    incoming.call(2, 'work', [], 16)
    const reason = new Error('connection lost')
    incoming.cancelAll(reason)
    expect(signal!.reason).toBe(reason)
    expect(incoming.waiting).toBe(0)
    // The aborted handler holds its slot until it ends.
    expect(incoming.running).toBe(1)
    done.resolve('late')
    await settled()
    expect(incoming.running).toBe(0)
    expect(frames).toEqual([])
  })
})

describe('streams', () => {
  /** An async generator handler of `count` items that counts how far it was pulled and whether it finished. */
  function counted(count: number) {
    const progress = { pulled: 0, finished: false }
    async function* fn() {
      try {
        for (let i = 0; i < count; i++) {
          progress.pulled++
          yield i
        }
      } finally {
        progress.finished = true
      }
    }
    return { fn, progress }
  }

  test('items are sent up to the credit, and more follow each credit()', async () => {
    const { incoming, frames, expose, framesSent } = setup({}, 2)
    const stream = counted(5)
    expose('numbers', stream.fn)
    incoming.call(1, 'numbers', [], 16)
    await framesSent(2)
    await settled()
    expect(frames).toEqual([
      [MessageType.Item, 1, 0],
      [MessageType.Item, 1, 1],
    ])
    // The generator is not pulled beyond the credit.
    expect(stream.progress.pulled).toBe(2)
    expect(incoming.running).toBe(1)

    incoming.credit(1, 1)
    await framesSent(3)
    await settled()
    expect(frames).toHaveLength(3)
    expect(stream.progress.pulled).toBe(3)

    incoming.credit(1, 10)
    await framesSent(6)
    expect(frames.slice(3)).toEqual([
      [MessageType.Item, 1, 3],
      [MessageType.Item, 1, 4],
      [MessageType.End, 1],
    ])
    expect(stream.progress.finished).toBe(true)
    expect(incoming.running).toBe(0)
  })

  test('a promise of an async iterable streams too, from a context handler as well', async () => {
    const { incoming, frames, expose, framesSent } = setup({}, 8)
    expose('later', async () => counted(2).fn())
    expose('withContext', (_context: Context) => counted(1).fn(), { context: true })
    incoming.call(1, 'later', [], 16)
    await framesSent(3)
    incoming.call(2, 'withContext', [], 16)
    await framesSent(5)
    expect(frames).toEqual([
      [MessageType.Item, 1, 0],
      [MessageType.Item, 1, 1],
      [MessageType.End, 1],
      [MessageType.Item, 2, 0],
      [MessageType.End, 2],
    ])
  })

  test('a stream waiting for credit holds its slot', async () => {
    const { incoming, expose, framesSent } = setup({ maxConcurrentCalls: 1 }, 1)
    expose('numbers', counted(3).fn)
    const other = controlledHandler()
    expose('other', other.fn)
    incoming.call(1, 'numbers', [], 16)
    incoming.call(2, 'other', [], 16)
    await framesSent(1)
    await settled()
    expect(other.started).toHaveLength(0)
    incoming.credit(1, 5)
    await framesSent(4)
    await settled()
    expect(other.started).toHaveLength(1)
  })

  test('a cancelled stream sends nothing more and its generator is returned', async () => {
    const { incoming, frames, expose, framesSent } = setup({}, 1)
    const stream = counted(5)
    expose('numbers', stream.fn)
    incoming.call(1, 'numbers', [], 16)
    await framesSent(1)
    await settled()
    incoming.cancel(1, () => 'enough')
    incoming.credit(1, 10)
    await settled()
    expect(frames).toEqual([[MessageType.Item, 1, 0]])
    expect(stream.progress.finished).toBe(true)
    expect(stream.progress.pulled).toBe(1)
  })

  test('a generator that fails while it is stopped is reported', async () => {
    const { incoming, reports, expose, framesSent } = setup({}, 1)
    const failure = new Error('cleanup failed')
    expose('numbers', async function* () {
      try {
        yield 1
        yield 2
      } finally {
        // eslint-disable-next-line no-unsafe-finally
        throw failure
      }
    })
    incoming.call(1, 'numbers', [], 16)
    await framesSent(1)
    await settled()
    incoming.cancel(1, () => 'enough')
    await settled()
    expect(reports).toEqual([failure])
  })

  test('an item that cannot be encoded ends the stream with an error and stops the generator', async () => {
    const { incoming, frames, expose, framesSent } = setup({}, 8)
    const progress = { finished: false }
    expose('bad', async function* () {
      try {
        yield 1
        yield () => 'a function cannot travel'
        yield 3
      } finally {
        progress.finished = true
      }
    })
    incoming.call(1, 'bad', [], 16)
    await framesSent(2)
    await settled()
    expect(frames[0]).toEqual([MessageType.Item, 1, 1])
    expect(frames[1]).toEqual([MessageType.Error, 1, expect.objectContaining({ name: 'SerializationError' })])
    expect(frames).toHaveLength(2)
    expect(progress.finished).toBe(true)
    expect(incoming.running).toBe(0)
  })

  test('a generator that throws ends the stream with its error', async () => {
    const { incoming, frames, expose, framesSent } = setup({}, 8)
    expose('breaks', async function* () {
      yield 'first'
      throw new Error('broke')
    })
    incoming.call(1, 'breaks', [], 16)
    await framesSent(2)
    expect(frames).toEqual([
      [MessageType.Item, 1, 'first'],
      [MessageType.Error, 1, expect.objectContaining({ name: 'Error', message: 'broke' })],
    ])
    expect(incoming.running).toBe(0)
  })

  test('the credit of a new call is the current peer window', async () => {
    const { incoming, frames, expose, framesSent } = setup({}, 1)
    expose('numbers', counted(5).fn)
    incoming.peerWindow = 3
    incoming.call(1, 'numbers', [], 16)
    await framesSent(3)
    await settled()
    expect(frames).toHaveLength(3)
  })
})

describe('notifications', () => {
  test('a handler runs with the arguments and its thisArg, and nothing is sent', () => {
    const { incoming, frames, reports, expose } = setup()
    const seen: unknown[] = []
    const owner = { tag: 'owner' }
    expose(
      'note',
      function (this: typeof owner, a: number, b: string) {
        seen.push(this.tag, a, b)
        return 'ignored'
      },
      { thisArg: owner },
    )
    incoming.notify('note', [1, 'two'], 16)
    expect(seen).toEqual(['owner', 1, 'two'])
    expect(frames).toEqual([])
    expect(reports).toEqual([])
  })

  test('a context handler gets a context whose progress sends nothing', () => {
    const { incoming, frames, expose, channel } = setup()
    let context: Context | undefined
    expose(
      'note',
      (ctx: Context) => {
        context = ctx
        ctx.progress('ignored')
      },
      { context: true },
    )
    incoming.notify('note', [], 16)
    expect(context!.channel).toBe(channel)
    expect(context!.signal.aborted).toBe(false)
    expect(frames).toEqual([])
  })

  test('an unknown name is reported, not answered', () => {
    const { incoming, frames, reports } = setup()
    incoming.notify('missing', [], 16)
    expect(reports).toHaveLength(1)
    expect(reports[0].name).toBe('MethodNotFoundError')
    expect(reports[0].message).toBe('notification for an unknown method: "missing"')
    expect(frames).toEqual([])
  })

  test('a throwing or rejecting handler is reported, not answered', async () => {
    const { incoming, frames, reports, expose } = setup()
    const thrown = new Error('sync failure')
    const rejected = new Error('async failure')
    expose('throws', () => {
      throw thrown
    })
    expose('rejects', () => Promise.reject(rejected))
    incoming.notify('throws', [], 16)
    expect(reports).toEqual([thrown])
    incoming.notify('rejects', [], 16)
    await settled()
    expect(reports).toEqual([thrown, rejected])
    expect(frames).toEqual([])
  })

  test('a thrown value that is not an error is reported wrapped in one', () => {
    const { incoming, reports, expose } = setup()
    expose('throwsValue', () => {
      throw 42
    })
    incoming.notify('throwsValue', [], 16)
    expect(reports).toHaveLength(1)
    expect(reports[0]).toBeInstanceOf(Error)
    expect(reports[0].message).toBe('notification handler "throwsValue" threw')
    expect(reports[0].cause).toBe(42)
  })
})

describe('a cancelled handler keeps its slot until it really ends', () => {
  test('until its promise rejects, too; the rejection is not sent, and a waiting call starts only then', async () => {
    const { incoming, frames, reports, expose } = setup({ maxConcurrentCalls: 1 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    incoming.call(1, 'work', [1], 16)
    incoming.call(2, 'work', [2], 16)
    incoming.cancel(1, () => 'stop')
    await settled()
    expect(handler.startedArgs()).toEqual([1])
    expect(incoming.running).toBe(1)
    handler.started[0].deferred.reject(new Error('aborted'))
    await settled()
    expect(handler.startedArgs()).toEqual([1, 2])
    expect(frames).toEqual([])
    expect(reports).toEqual([])
    handler.started[1].deferred.resolve('two')
    await settled()
    expect(frames).toEqual([[MessageType.Result, 2, 'two']])
  })

  test('a handler that never ends keeps its slot for ever', async () => {
    const { incoming, expose } = setup({ maxConcurrentCalls: 1 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    incoming.call(1, 'work', [1], 16)
    incoming.call(2, 'work', [2], 16)
    incoming.cancel(1, () => 'stop')
    // Cancelling again frees nothing either.
    incoming.cancel(1, () => 'stop again')
    await settled()
    expect(handler.startedArgs()).toEqual([1])
    expect(incoming.running).toBe(1)
    expect(incoming.waiting).toBe(1)
  })

  test('its id is free at once: the peer may reuse it while the cancelled handler still runs', async () => {
    const { incoming, frames, expose } = setup({ maxConcurrentCalls: 2 })
    const contexts: Context[] = []
    const handler = controlledHandler()
    expose(
      'work',
      (context: Context, n: number) => {
        contexts.push(context)
        return handler.fn(n)
      },
      { context: true },
    )
    incoming.call(1, 'work', ['old'], 16)
    incoming.cancel(1, () => 'stop')
    incoming.call(1, 'work', ['new'], 16)
    expect(handler.startedArgs()).toEqual(['old', 'new'])
    expect(incoming.running).toBe(2)
    // The old handler ends: the new call with the same id is still the one running under it.
    handler.started[0].deferred.resolve('old result')
    await settled()
    expect(incoming.running).toBe(1)
    expect(() => incoming.call(1, 'work', ['third'], 16)).toThrow(new ProtocolError('call id 1 is already running'))
    contexts[0].progress('from the old one')
    contexts[1].progress('from the new one')
    handler.started[1].deferred.resolve('new result')
    await settled()
    expect(frames).toEqual([
      [MessageType.Progress, 1, 'from the new one'],
      [MessageType.Result, 1, 'new result'],
    ])
    expect(contexts[0].signal.aborted).toBe(true)
    expect(contexts[1].signal.aborted).toBe(false)
  })

  test('a cancelled stream waiting for credit frees its slot once its pump stops', async () => {
    const { incoming, expose } = setup({ maxConcurrentCalls: 1 }, 1)
    const finished = { value: false }
    expose('numbers', async function* () {
      try {
        for (let i = 0; ; i++) yield i
      } finally {
        finished.value = true
      }
    })
    const other = controlledHandler()
    expose('other', other.fn)
    incoming.call(1, 'numbers', [], 16)
    incoming.call(2, 'other', [], 16)
    await settled()
    expect(other.started).toHaveLength(0)
    incoming.cancel(1, () => 'enough')
    // The pump has not stopped yet.
    expect(incoming.running).toBe(1)
    await settled()
    expect(finished.value).toBe(true)
    expect(other.started).toHaveLength(1)
    expect(incoming.running).toBe(1)
  })
})

describe('duplicate ids', () => {
  test('a call id already waiting for a slot is a ProtocolError, and it waits once', async () => {
    const { incoming, frames, expose } = setup({ maxConcurrentCalls: 1 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    incoming.call(1, 'work', [1], 16)
    incoming.call(2, 'work', [2], 16)
    expect(() => incoming.call(2, 'work', ['again'], 16)).toThrow(new ProtocolError('call id 2 is already waiting for a handler slot'))
    expect(incoming.waiting).toBe(1)
    handler.started[0].deferred.resolve('one')
    await settled()
    expect(handler.startedArgs()).toEqual([1, 2])
    expect(() => incoming.call(2, 'work', ['again'], 16)).toThrow(new ProtocolError('call id 2 is already running'))
    expect(frames).toEqual([[MessageType.Result, 1, 'one']])
  })
})

describe('notifications have slots of their own', () => {
  test('a notification never waits behind calls', () => {
    const { incoming, expose } = setup({ maxConcurrentCalls: 1 })
    const handler = controlledHandler()
    expose('work', handler.fn)
    const notes: unknown[] = []
    expose('note', (n: unknown) => {
      notes.push(n)
      return pDefer<void>().promise
    })
    incoming.call(1, 'work', [1], 16)
    incoming.call(2, 'work', [2], 16)
    expect(incoming.waiting).toBe(1)
    incoming.notify('note', ['first'], 16)
    expect(notes).toEqual(['first'])
    expect(incoming.running).toBe(1)
  })

  test('a call never waits behind notifications', () => {
    const { incoming, expose } = setup({ maxConcurrentCalls: 1 })
    const notes = controlledHandler()
    expose('note', notes.fn)
    const handler = controlledHandler()
    expose('work', handler.fn)
    incoming.notify('note', ['a'], 16)
    incoming.notify('note', ['b'], 16)
    expect(notes.startedArgs()).toEqual(['a'])
    incoming.call(1, 'work', [1], 16)
    expect(handler.startedArgs()).toEqual([1])
    expect(incoming.waiting).toBe(1)
  })

  test('at most maxConcurrentCalls notification handlers are pending at once; the others wait in order', async () => {
    const { incoming, reports, expose } = setup({ maxConcurrentCalls: 2 })
    const notes = controlledHandler()
    expose('note', notes.fn)
    for (const name of ['a', 'b', 'c', 'd', 'e']) incoming.notify('note', [name], 16)
    expect(notes.startedArgs()).toEqual(['a', 'b'])
    expect(incoming.waiting).toBe(3)
    // Notifications hold no call slot.
    expect(incoming.running).toBe(0)
    notes.started[0].deferred.resolve(undefined)
    await settled()
    expect(notes.startedArgs()).toEqual(['a', 'b', 'c'])
    // A rejection frees the slot too, and is reported.
    const failure = new Error('note failed')
    notes.started[1].deferred.reject(failure)
    await settled()
    expect(notes.startedArgs()).toEqual(['a', 'b', 'c', 'd'])
    expect(reports).toEqual([failure])
    notes.started[2].deferred.resolve(undefined)
    await settled()
    expect(notes.startedArgs()).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(incoming.waiting).toBe(0)
  })

  test('a notification handler that returns at once takes no slot', () => {
    const { incoming, expose } = setup({ maxConcurrentCalls: 1, maxWaitingCalls: 0 })
    const notes: unknown[] = []
    expose('note', (n: unknown) => notes.push(n))
    for (let n = 1; n <= 3; n++) incoming.notify('note', [n], 16)
    expect(notes).toEqual([1, 2, 3])
  })

  test('a notification beyond maxWaitingCalls is dropped and reported as BufferFullError', async () => {
    const { incoming, frames, reports, expose } = setup({ maxConcurrentCalls: 1, maxWaitingCalls: 1 })
    const notes = controlledHandler()
    expose('note', notes.fn)
    incoming.notify('note', ['a'], 16)
    incoming.notify('note', ['b'], 16)
    incoming.notify('note', ['c'], 16)
    expect(reports).toHaveLength(1)
    expect(reports[0]).toBeInstanceOf(BufferFullError)
    expect(reports[0].message).toBe('notification "note" dropped: 1 notifications already wait for a handler slot (maxWaitingCalls)')
    notes.started[0].deferred.resolve(undefined)
    await settled()
    notes.started[1].deferred.resolve(undefined)
    await settled()
    // The dropped one never runs; nothing is ever answered.
    expect(notes.startedArgs()).toEqual(['a', 'b'])
    expect(frames).toEqual([])
  })

  test('waiting notifications do not start while not connected, and cancelAll drops them', async () => {
    const { incoming, expose, state } = setup({ maxConcurrentCalls: 1 })
    const notes = controlledHandler()
    expose('note', notes.fn)
    incoming.notify('note', ['a'], 16)
    incoming.notify('note', ['b'], 16)
    state.connected = false
    notes.started[0].deferred.resolve(undefined)
    await settled()
    expect(notes.startedArgs()).toEqual(['a'])
    expect(incoming.waiting).toBe(1)
    incoming.cancelAll(new Error('gone'))
    expect(incoming.waiting).toBe(0)
  })
})

describe('maxBufferedBytes bounds the frames that wait', () => {
  /** IncomingCalls with one call slot, taken by a call that waits for the test, and 100 bytes to wait in. */
  function full(limits: Partial<IncomingLimits> = {}) {
    const harness = setup({ maxConcurrentCalls: 1, maxBufferedBytes: 100, ...limits })
    const handler = controlledHandler()
    harness.expose('work', handler.fn)
    const notes = controlledHandler()
    harness.expose('note', notes.fn)
    // Running calls and notifications do not count, however large their frames were.
    harness.incoming.call(1, 'work', [1], 10_000)
    harness.incoming.notify('note', ['first'], 10_000)
    return { ...harness, handler, notes }
  }

  /** The name, message and code of a BufferFullError sent for call `id`. */
  function bufferFull(id: number, message: string) {
    return [MessageType.Error, id, expect.objectContaining({ name: 'BufferFullError', message, props: { code: new BufferFullError().code } })]
  }

  test('a call that would take the waiting bytes over it is answered with BufferFullError; up to it is allowed', () => {
    const { incoming, frames, handler } = full()
    incoming.call(2, 'work', [2], 60)
    incoming.call(3, 'work', [3], 40)
    expect(incoming.waiting).toBe(2)
    incoming.call(4, 'work', [4], 1)
    expect(incoming.waiting).toBe(2)
    expect(frames).toEqual([bufferFull(4, '100 bytes of calls and notifications already wait for a handler slot (maxBufferedBytes)')])
    expect(handler.startedArgs()).toEqual([1])
  })

  test('calls and notifications share the bytes; a notification beyond them is dropped and reported', () => {
    const { incoming, frames, reports } = full()
    incoming.call(2, 'work', [2], 60)
    incoming.notify('note', ['too large'], 41)
    expect(reports).toHaveLength(1)
    expect(reports[0]).toBeInstanceOf(BufferFullError)
    expect(reports[0].message).toBe(
      'notification "note" dropped: 60 bytes of calls and notifications already wait for a handler slot (maxBufferedBytes)',
    )
    incoming.notify('note', ['fits'], 40)
    expect(incoming.waiting).toBe(2)
    incoming.call(3, 'work', [3], 1)
    expect(frames).toEqual([bufferFull(3, '100 bytes of calls and notifications already wait for a handler slot (maxBufferedBytes)')])
  })

  test('maxWaitingCalls is checked first', () => {
    const { incoming, frames } = full({ maxWaitingCalls: 1 })
    incoming.call(2, 'work', [2], 10)
    incoming.call(3, 'work', [3], 1000)
    expect(frames).toEqual([bufferFull(3, '1 calls already wait for a handler slot (maxWaitingCalls)')])
  })

  test('the bytes of a waiting call are released when it is cancelled, and when it starts', async () => {
    const { incoming, frames, handler } = full()
    incoming.call(2, 'work', [2], 100)
    incoming.cancel(2, () => 'never mind')
    incoming.call(3, 'work', [3], 100)
    expect(frames).toEqual([])
    handler.started[0].deferred.resolve('one')
    await settled()
    expect(handler.startedArgs()).toEqual([1, 3])
    incoming.call(4, 'work', [4], 100)
    expect(incoming.waiting).toBe(1)
    expect(frames).toEqual([[MessageType.Result, 1, 'one']])
  })

  test('the bytes of a waiting notification are released when it starts', async () => {
    const { incoming, frames, reports, notes } = full()
    incoming.notify('note', ['second'], 100)
    notes.started[0].deferred.resolve(undefined)
    await settled()
    expect(notes.startedArgs()).toEqual(['first', 'second'])
    incoming.call(2, 'work', [2], 100)
    expect(incoming.waiting).toBe(1)
    expect(frames).toEqual([])
    expect(reports).toEqual([])
  })

  test('cancelAll releases every waiting byte', () => {
    const { incoming, frames } = full()
    incoming.call(2, 'work', [2], 50)
    incoming.notify('note', ['second'], 50)
    incoming.cancelAll(new Error('gone'))
    incoming.call(3, 'work', [3], 100)
    expect(incoming.waiting).toBe(1)
    expect(frames).toEqual([])
  })
})

describe('streams and a saturated outbox', () => {
  /** An async generator handler of `count` items that counts how far it was pulled and whether it finished. */
  function counted(count: number) {
    const progress = { pulled: 0, finished: false }
    async function* fn() {
      try {
        for (let i = 0; i < count; i++) {
          progress.pulled++
          yield i
        }
      } finally {
        progress.finished = true
      }
    }
    return { fn, progress }
  }

  /** Lets macrotasks run until `frames` stops growing, for at most `turns` of the event loop. */
  async function untilIdle(frames: unknown[], turns = 10_000): Promise<void> {
    for (let turn = 0; turn < turns; turn++) {
      const before = frames.length
      await settled()
      await settled()
      if (frames.length === before) return
    }
  }

  test('a stream does not pull its generator while the outbox is saturated, and goes on when it drains', async () => {
    const { incoming, frames, expose, state, drain } = setup({}, 8)
    const stream = counted(3)
    expose('numbers', stream.fn)
    state.saturated = true
    incoming.call(1, 'numbers', [], 16)
    await settled()
    expect(frames).toEqual([])
    expect(stream.progress.pulled).toBe(0)
    drain()
    await settled()
    expect(frames).toEqual([
      [MessageType.Item, 1, 0],
      [MessageType.Item, 1, 1],
      [MessageType.Item, 1, 2],
      [MessageType.End, 1],
    ])
  })

  test('a stream stops right after the item that saturated the outbox', async () => {
    const { incoming, frames, expose, state, hooks, drain } = setup({}, 10)
    const stream = counted(5)
    expose('numbers', stream.fn)
    hooks.sent = () => {
      if (frames.length === 2) state.saturated = true
    }
    incoming.call(1, 'numbers', [], 16)
    await settled()
    expect(frames).toHaveLength(2)
    expect(stream.progress.pulled).toBe(2)
    // Still saturated after a drain: it waits again.
    drain()
    state.saturated = true
    await settled()
    expect(frames).toHaveLength(2)
    drain()
    await settled()
    expect(frames.at(-1)).toEqual([MessageType.End, 1])
    expect(stream.progress.finished).toBe(true)
  })

  test('a stream cancelled while it waits for the outbox sends nothing more, and its generator is returned', async () => {
    const { incoming, frames, expose, state, hooks, drain } = setup({}, 10)
    const stream = counted(5)
    expose('numbers', stream.fn)
    hooks.sent = () => {
      state.saturated = true
    }
    incoming.call(1, 'numbers', [], 16)
    await settled()
    expect(frames).toEqual([[MessageType.Item, 1, 0]])
    incoming.cancel(1, () => 'enough')
    await settled()
    expect(stream.progress.finished).toBe(true)
    drain()
    await settled()
    expect(frames).toEqual([[MessageType.Item, 1, 0]])
    expect(stream.progress.pulled).toBe(1)
    expect(incoming.running).toBe(0)
  })

  test('a stream yields to the event loop after every 64 items', async () => {
    const { incoming, frames, expose } = setup({}, 1000)
    expose('numbers', counted(200).fn)
    incoming.call(1, 'numbers', [], 16)
    // Each check runs in its own turn of the event loop, queued ahead of the pump's next turn.
    const seen: number[] = []
    for (let turn = 0; turn < 10 && frames.length < 201; turn++) {
      await settled()
      seen.push(frames.length)
    }
    expect(seen).toEqual([64, 128, 192, 201])
  })

  test('outstanding credit is clamped at 65536 items, whatever the peer grants', async () => {
    const { incoming, frames, expose } = setup({}, 64)
    const stream = counted(70_000)
    expose('numbers', stream.fn)
    incoming.call(1, 'numbers', [], 16)
    // 64 from the window plus 2^32-1 granted: 65536 outstanding, not more.
    incoming.credit(1, 2 ** 32 - 1)
    await untilIdle(frames)
    expect(frames).toHaveLength(65_536)
    expect(frames.at(-1)).toEqual([MessageType.Item, 1, 65_535])
    expect(stream.progress.pulled).toBe(65_536)
    // The clamp applies to what is outstanding: once it is spent, each grant counts again.
    incoming.credit(1, 3)
    await untilIdle(frames)
    expect(frames).toHaveLength(65_539)
    incoming.cancel(1, () => 'enough')
    await settled()
    expect(stream.progress.finished).toBe(true)
  })
})

describe('progress while the outbox is saturated', () => {
  /** A context handler `work` whose context and outcome the test controls. */
  function withProgress(limits: Partial<IncomingLimits> = {}) {
    const harness = setup(limits)
    const calls: { context: Context; deferred: DeferredPromise<unknown> }[] = []
    harness.expose(
      'work',
      (context: Context) => {
        const deferred = pDefer<unknown>()
        calls.push({ context, deferred })
        return deferred.promise
      },
      { context: true },
    )
    return { ...harness, calls }
  }

  test('reports are coalesced to the latest, which is sent once the outbox drains', async () => {
    const { incoming, frames, state, drain, calls } = withProgress()
    incoming.call(1, 'work', [], 16)
    const { context } = calls[0]
    state.saturated = true
    context.progress(1)
    context.progress(2)
    context.progress(3)
    await settled()
    expect(frames).toEqual([])
    drain()
    await settled()
    expect(frames).toEqual([[MessageType.Progress, 1, 3]])
    // Not saturated: straight through.
    context.progress(4)
    expect(frames).toEqual([
      [MessageType.Progress, 1, 3],
      [MessageType.Progress, 1, 4],
    ])
  })

  test('a held report goes out ahead of the result, and not again at the drain', async () => {
    const { incoming, frames, state, drain, calls } = withProgress()
    incoming.call(1, 'work', [], 16)
    state.saturated = true
    calls[0].context.progress('half')
    calls[0].context.progress('almost')
    calls[0].deferred.resolve('done')
    await settled()
    expect(frames).toHaveLength(2)
    drain()
    await settled()
    expect(frames).toEqual([
      [MessageType.Progress, 1, 'almost'],
      [MessageType.Result, 1, 'done'],
    ])
  })

  test('a held report goes out ahead of an error too', async () => {
    const { incoming, frames, state, calls } = withProgress()
    incoming.call(1, 'work', [], 16)
    state.saturated = true
    calls[0].context.progress('half')
    calls[0].deferred.reject(new Error('failed'))
    await settled()
    expect(frames).toEqual([
      [MessageType.Progress, 1, 'half'],
      [MessageType.Error, 1, expect.objectContaining({ message: 'failed' })],
    ])
  })

  test('reports of different calls are held apart', async () => {
    const { incoming, frames, state, drain, calls } = withProgress()
    incoming.call(1, 'work', [], 16)
    incoming.call(2, 'work', [], 16)
    state.saturated = true
    calls[0].context.progress('one a')
    calls[1].context.progress('two a')
    calls[0].context.progress('one b')
    drain()
    await settled()
    expect(frames).toEqual([
      [MessageType.Progress, 1, 'one b'],
      [MessageType.Progress, 2, 'two a'],
    ])
  })

  test('a held report is dropped when the call is cancelled, or when the connection ends', async () => {
    const { incoming, frames, state, drain, calls } = withProgress()
    incoming.call(1, 'work', [], 16)
    incoming.call(2, 'work', [], 16)
    state.saturated = true
    calls[0].context.progress('cancelled')
    calls[1].context.progress('disconnected')
    incoming.cancel(1, () => 'stop')
    state.connected = false
    drain()
    await settled()
    expect(frames).toEqual([])
  })
})

describe('failed notifications reported to the peer (notifyErrors)', () => {
  test('sent when the peer asked, dropped while the outbox is saturated, never sent otherwise', () => {
    const { incoming, frames, reports, state } = setup()
    incoming.notify('missing', [], 16)
    expect(frames).toEqual([])
    incoming.peerNotifyErrors = true
    incoming.notify('missing', [], 16)
    expect(frames).toEqual([[MessageType.NotifyFailed, 'missing', expect.objectContaining({ name: 'MethodNotFoundError' })]])
    // Advisory: not queued behind answers the peer does not read.
    state.saturated = true
    incoming.notify('missing', [], 16)
    expect(frames).toHaveLength(1)
    // Reported here every time.
    expect(reports).toHaveLength(3)
  })
})
