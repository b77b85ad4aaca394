/**
 * Call lifecycle, part 4: streaming calls. A handler that is an async generator streams its items;
 * the caller iterates them with `for await` (with credit-based backpressure) or awaits the whole array.
 * Leaving the loop early stops the remote generator; an error thrown mid-stream or a peer that dies
 * ends the loop with that error after the items that came before it. Both directions: the fixture
 * server streams to the client in the test, and iterates generators the client exposes.
 */
import { describe, expect, test } from 'vitest'
import { AbortError, ChannelClosedError, RemoteError, TimeoutError, type CallContext, type Client, type InProgress } from '../../../dist/index.js'
import { outcome, rejection } from '../../helpers/outcome.js'
import { nextMessage, recordMishaps, serverAndClient, signalled, within, type Described, type FixtureMessage } from './support.js'

/** Registered with the `errors` option: the fixture's StreamError comes back as this class. */
class StreamError extends Error {
  position?: number
}

interface Aborted extends FixtureMessage {
  reason: Described
}

interface Iterated extends FixtureMessage {
  items: unknown[]
}

interface FixtureApi {
  numbers(count: number): AsyncGenerator<number>
}

/** Iterates `iterable` into an array; the outcome says how the loop ended. */
async function drain<T>(iterable: AsyncIterable<T>, each?: (item: T, index: number) => void | Promise<void>) {
  const items: T[] = []
  try {
    for await (const item of iterable) {
      items.push(item)
      await each?.(item, items.length - 1)
    }
    return { items, error: undefined as unknown }
  } catch (error) {
    return { items, error }
  }
}

describe('streaming from the server process to the client', () => {
  test('100,000 small items arrive in order through for await', { timeout: 60_000 }, async () => {
    const { client } = await serverAndClient()
    const total = 100_000
    let next = 0
    let outOfOrder = 0
    await within(
      45_000,
      (async () => {
        for await (const item of client.rpc<number[], number>('numbers', total)) {
          if (item !== next) outOfOrder++
          next++
        }
      })(),
      'the stream',
    )
    expect(outOfOrder).toBe(0)
    expect(next).toBe(total)
  })

  test('awaiting a streaming call without iterating resolves to the array of its items', async () => {
    const { client } = await serverAndClient()
    expect(await within(5000, client.rpc('numbers', 1000), 'numbers')).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    // Through the typed proxy: an InProgress of the array.
    const typed: number[] = await within(5000, client.remote<FixtureApi>().numbers(3), 'typed numbers')
    expect(typed).toEqual([0, 1, 2])
    expect(await within(5000, client.rpc('numbers', 0), 'empty stream')).toEqual([])
  })

  test('a loop started after the stream has ended still sees every item', async () => {
    const ended = signalled<number>()
    const { client } = await serverAndClient({}, undefined, (c) => c.expose('streamEnded', (count: number) => ended.resolve(count)))
    const call = client.rpc<number[], number>('numbersThenNotify', 5)
    // The fixture notifies in a later macrotask than the stream's end frame; frames are ordered.
    expect(await within(5000, ended.promise, 'the end of the stream')).toBe(5)
    expect(call.finished).toBe(true)
    const { items, error } = await within(5000, drain(call), 'the loop')
    expect(error).toBeUndefined()
    expect(items).toEqual([0, 1, 2, 3, 4])
  })

  test('a slow consumer holds the producer back: items in flight never exceed streamWindow + 1', async () => {
    const streamWindow = 8
    const { client } = await serverAndClient({}, { streamWindow })
    const total = 300
    // The consumer reports each item it takes with a call, and awaits it before taking the next: a
    // consumer much slower than the producer, and a report the producer has before the next credit.
    const { items, error } = await within(
      15_000,
      drain(client.rpc<number[], number>('windowed', total), (_, index) => client.rpc('consumed', index + 1).then(() => undefined)),
      'the slow consumer',
    )
    expect(error).toBeUndefined()
    expect(items).toEqual(Array.from({ length: total }, (_, i) => i))
    const stats = (await within(5000, client.rpc('windowedStats'), 'windowedStats')) as { yielded: number; consumed: number; maxAhead: number }
    expect(stats.yielded).toBe(total)
    expect(stats.consumed).toBe(total)
    // The producer measures yielded - consumed each time it yields. The pump asks the generator for an
    // item only while it holds credit (channel.ts #pumpStream), so yielded <= streamWindow + credit
    // granted; the consumer grants credit for items it has taken (in-progress.ts #consumed), so
    // granted <= taken. The report of the item just taken travels behind its credit frame, so the
    // producer may count one taken item less: hence streamWindow + 1. It does reach streamWindow: it
    // yields the first window before any report can arrive, which proves it was held back at all.
    expect(stats.maxAhead).toBeGreaterThanOrEqual(streamWindow)
    expect(stats.maxAhead).toBeLessThanOrEqual(streamWindow + 1)
  })

  test("break in the caller's loop runs the remote generator's finally and fires its signal", async () => {
    const { fixture, client } = await serverAndClient()
    const mishaps = recordMishaps(client)
    const call = client.rpc<number[], number>('tracked', 'left-early')
    const items: number[] = []
    for await (const item of call) {
      items.push(item)
      if (items.length === 5) break
    }
    expect(items).toEqual([0, 1, 2, 3, 4])
    expect(await within(5000, nextMessage(fixture, 'finally', 'left-early'), "the remote generator's finally")).toBeTruthy()
    const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'left-early'), 'the remote signal')
    expect(aborted.reason).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', abortError: true })
    // The call itself ended as given up; nothing else goes wrong and the channel keeps working.
    expect(call.error).toBeInstanceOf(AbortError)
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    expect(mishaps).toEqual({ errors: [], unhandled: [] })
  })

  test('an error thrown mid-stream rejects the loop with the remote error, after the earlier items', async () => {
    const { client } = await serverAndClient({}, { errors: [StreamError] })
    const range = await within(5000, drain(client.rpc('failAfter', 5, 'range')), 'the RangeError stream')
    expect(range.items).toEqual([0, 1, 2, 3, 4])
    expect(range.error).toBeInstanceOf(RangeError)
    expect(range.error).toBeInstanceOf(RemoteError)
    expect((range.error as Error).message).toBe('stream broke after 5 items')

    const custom = await within(5000, drain(client.rpc('failAfter', 3, 'custom')), 'the StreamError stream')
    expect(custom.items).toEqual([0, 1, 2])
    expect(custom.error).toBeInstanceOf(StreamError)
    expect(custom.error).toMatchObject({ name: 'StreamError', message: 'stream broke after 3 items', position: 3 })

    // Awaited as a whole, the same stream rejects with the error.
    expect(await within(5000, rejection(client.rpc('failAfter', 3, 'range')), 'the awaited stream')).toBeInstanceOf(RangeError)
  })

  /**
   * Iterates `tracked` and, at the first item, waits until the whole first window has reached this
   * process (the fixture reports producing its last item; a later round trip ensures the item is here),
   * then gives up with `giveUp`, which resolves once the call has failed. Counts the items the loop
   * is handed after that.
   */
  async function giveUpWithItemsBuffered(
    fixture: Parameters<typeof nextMessage>[0],
    client: Client,
    call: InProgress<number[], number>,
    tag: string,
    giveUp: () => Promise<unknown>,
  ) {
    let afterGivingUp = 0
    const result = await within(
      5000,
      drain(call, async (_, index) => {
        if (call.failed) afterGivingUp++
        if (index > 0) return
        await nextMessage(fixture, 'produced', tag)
        expect(await client.rpc('ping')).toBe('pong')
        await giveUp()
        expect(call.failed).toBe(true)
      }),
      'the stream',
    )
    return { ...result, afterGivingUp }
  }

  test('timeout(ms) on a streaming call ends the loop at once with TimeoutError and stops the remote generator', async () => {
    const { fixture, client } = await serverAndClient()
    // The default window is 64: items 0 to 63 are sent before the producer waits for credit.
    const call = client.rpc<number[], number>('tracked', 'stream-deadline', 63).timeout(150)
    const { items, error, afterGivingUp } = await giveUpWithItemsBuffered(fixture, client, call, 'stream-deadline', () =>
      call.then(undefined, () => undefined),
    )
    expect(error).toBeInstanceOf(TimeoutError)
    // No item is handed to the loop once the call has timed out.
    expect(afterGivingUp).toBe(0)
    expect(items).toEqual([0])
    const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'stream-deadline'), 'the remote signal')
    expect(aborted.reason).toMatchObject({ name: 'TimeoutError', code: 'ERR_TIMEOUT' })
    await within(5000, nextMessage(fixture, 'finally', 'stream-deadline'), "the remote generator's finally")
  })

  test('aborting mid-stream (AbortSignal of call()) ends the loop at once with AbortError and stops the remote generator', async () => {
    const { fixture, client } = await serverAndClient()
    const controller = new AbortController()
    const call = client.call<number[], number>('tracked', ['stream-abort', 63], { signal: controller.signal })
    const { items, error, afterGivingUp } = await giveUpWithItemsBuffered(fixture, client, call, 'stream-abort', async () =>
      controller.abort('seen enough'),
    )
    expect(error).toBeInstanceOf(AbortError)
    expect((error as AbortError).cause).toBe('seen enough')
    // No item is handed to the loop once the caller has given up.
    expect(afterGivingUp).toBe(0)
    expect(items).toEqual([0])
    const aborted = await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'stream-abort'), 'the remote signal')
    expect(aborted.reason).toEqual({ kind: 'string', value: 'seen enough' })
    await within(5000, nextMessage(fixture, 'finally', 'stream-abort'), "the remote generator's finally")
  })

  test("client.close() mid-stream ends the loop with ChannelClosedError and runs the remote generator's finally", async () => {
    const { fixture, client } = await serverAndClient()
    const { items, error } = await within(
      5000,
      drain(client.rpc<number[], number>('tracked', 'stream-close'), (_, index) => {
        if (index === 9) void client.close()
      }),
      'the stream',
    )
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(items.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => i))
    await within(5000, nextMessage(fixture, 'finally', 'stream-close'), "the remote generator's finally")
    expect(await within(5000, nextMessage<Aborted>(fixture, 'aborted', 'stream-close'), 'the remote signal')).toMatchObject({
      reason: { name: 'ChannelClosedError', channelClosedError: true },
    })
  })

  test('iterating a call that does not stream yields its result once', async () => {
    const { client } = await serverAndClient()
    const { items, error } = await within(5000, drain(client.rpc('count', 'iterated')), 'the loop')
    expect(error).toBeUndefined()
    expect(items).toEqual([1])
  })

  test('the server process killed with SIGKILL mid-stream rejects the loop with ChannelClosedError', async () => {
    const { fixture, client } = await serverAndClient()
    const { items, error } = await within(
      5000,
      drain(client.rpc<number[], number>('forever', -1), (_, index) => {
        if (index === 9) fixture.child.kill('SIGKILL')
      }),
      'the interrupted stream',
    )
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect((error as ChannelClosedError).code).toBe('ERR_CHANNEL_CLOSED')
    expect(items.length).toBeGreaterThanOrEqual(10)
    expect(items).toEqual(Array.from({ length: items.length }, (_, i) => i))
    expect(await fixture.exited).toBe('SIGKILL')
  })
})

describe('streaming from the client to the server process', () => {
  test("the server iterates a client-side generator, in order; the client's generator finishes normally", async () => {
    const done = signalled<boolean>()
    const { fixture } = await serverAndClient({}, undefined, (client) => {
      client.expose(
        'countTo',
        async function* (ctx: CallContext, count: number) {
          try {
            for (let i = 0; i < count; i++) yield { i, square: i * i }
          } finally {
            done.resolve(ctx.signal.aborted)
          }
        },
        { context: true },
      )
    })
    fixture.send({ cmd: 'iterate', tag: 'all', name: 'countTo', args: [2000] })
    const iterated = await within(10_000, nextMessage<Iterated>(fixture, 'iterated', 'all'), 'the server iterating')
    expect(iterated.items).toEqual(Array.from({ length: 2000 }, (_, i) => ({ i, square: i * i })))
    expect(await done.promise).toBe(false)
  })

  test("break in the server's loop runs the client-side generator's finally and fires its signal", async () => {
    const stopped = signalled<unknown>()
    const { fixture } = await serverAndClient({}, undefined, (client) => {
      client.expose(
        'endless',
        async function* (ctx: CallContext) {
          try {
            for (let i = 0; ; i++) yield i
          } finally {
            stopped.resolve(ctx.signal.reason)
          }
        },
        { context: true },
      )
    })
    fixture.send({ cmd: 'iterate', tag: 'brk', name: 'endless', breakAfter: 5 })
    expect(await within(5000, nextMessage<Iterated>(fixture, 'iterated', 'brk'), 'the server loop')).toMatchObject({ items: [0, 1, 2, 3, 4] })
    const reason = await within(5000, stopped.promise, "the client-side generator's finally")
    expect(reason).toBeInstanceOf(AbortError)
    expect((reason as AbortError).code).toBe('ABORT_ERR')
  })

  test("the consuming server process killed with SIGKILL: the client-side generator's finally runs", async () => {
    const producing = signalled()
    const stopped = signalled<unknown>()
    const { fixture, client } = await serverAndClient({}, undefined, (c) => {
      c.expose(
        'endless',
        async function* (ctx: CallContext) {
          try {
            for (let i = 0; ; i++) {
              if (i === 100) producing.resolve()
              yield i
            }
          } finally {
            stopped.resolve(ctx.signal.reason)
          }
        },
        { context: true },
      )
    })
    fixture.send({ cmd: 'iterate', tag: 'killed', name: 'endless' })
    await within(5000, producing.promise, 'the generator producing')
    fixture.child.kill('SIGKILL')
    const reason = await within(5000, stopped.promise, "the client-side generator's finally")
    expect(reason).toBeInstanceOf(ChannelClosedError)
    expect(await outcome(client.rpc('ping'))).toMatchObject({ status: 'rejected', reason: expect.any(ChannelClosedError) })
  })
})
