import { getEventListeners } from 'node:events'
import type { Runtime } from 'node:inspector'
import { Session } from 'node:inspector/promises'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { AbortError, ChannelClosedError, ProtocolError, RemoteError, TimeoutError } from '../../src/core/errors.js'
import { InProgress } from '../../src/core/in-progress.js'
import { OutgoingCalls, type OutgoingPorts } from '../../src/core/outgoing-calls.js'
import { errorClassMap, toEnvelope, type ErrorClass } from '../../src/protocol/fault.js'

const MAX_ID = 2 ** 31 - 1

/**
 * OutgoingCalls over ports that record what they are asked. `unsent` holds the ids the fake outbox still
 * has (withdraw succeeds for them once); `connected` and `ending` are what the ports report.
 */
function setup(options: { streamWindow?: number; errorClasses?: readonly ErrorClass[] } = {}) {
  const log: unknown[][] = []
  const state = { connected: true, ending: false, unsent: new Set<number>() }
  const ports: OutgoingPorts = {
    encode: (id, target, args) => {
      log.push(['encode', id, target, args])
      return new Uint8Array([id])
    },
    send: (payload, id) => {
      log.push(['send', id])
    },
    withdraw: (id) => {
      log.push(['withdraw', id])
      return state.unsent.delete(id)
    },
    cancel: (id, reason) => {
      log.push(['cancel', id, reason])
    },
    credit: (id, count) => {
      log.push(['credit', id, count])
    },
    connected: () => state.connected,
    ending: () => state.ending,
  }
  const calls = new OutgoingCalls(
    {
      streamWindow: options.streamWindow ?? 4,
      errorClasses: errorClassMap(options.errorClasses),
      callTimeout: undefined,
      callSites: false,
      notifyErrors: false,
    },
    ports,
  )
  /** A call as the channel makes one: a fresh id, an InProgress owned by `calls`, tracked as pending. */
  const start = (name = 'method') => {
    const id = calls.nextId()
    const call = new InProgress<unknown, unknown>(calls, id, name)
    calls.add(id, call)
    return { id, call }
  }
  return { calls, log, state, start }
}

afterEach(() => {
  vi.useRealTimers()
})

/**
 * Moves the id counter of `calls` to `id`, as if that many ids had been handed out and settled. The
 * counter is a private field, and the only other way to the wrap is 2^31 calls of nextId() (6 to 11 s);
 * code that the inspector evaluates in REPL mode may reach private fields, as a debugger's console does.
 */
async function skipIdsTo(calls: OutgoingCalls, id: number): Promise<void> {
  const key = `__outgoingCallsUnderTest${process.pid}`
  const global = globalThis as Record<string, unknown>
  const session = new Session()
  session.connect()
  global[key] = calls
  try {
    // replMode (what lets the expression name a private field) is missing from @types/node's parameters.
    const params = { expression: `globalThis.${key}.#nextId = ${id}`, replMode: true } as Runtime.EvaluateParameterType
    const evaluated = await session.post('Runtime.evaluate', params)
    if (evaluated.exceptionDetails) throw new Error(`could not set the next id: ${evaluated.result.description ?? evaluated.exceptionDetails.text}`)
  } finally {
    delete global[key]
    session.disconnect()
  }
}

describe('ids', () => {
  test('count up from 1', () => {
    const { calls } = setup()
    expect([calls.nextId(), calls.nextId(), calls.nextId()]).toEqual([1, 2, 3])
  })

  test('a new id is not pending before add() and pending after it', () => {
    const { calls, start } = setup()
    expect(calls.size).toBe(0)
    start()
    start()
    expect(calls.size).toBe(2)
  })

  test('wrap from 2^31-1 back to 1, then skip the ids still pending, and never give 0', async () => {
    const { calls, start } = setup()
    const pending = [start(), start(), start()]
    expect(pending.map((p) => p.id)).toEqual([1, 2, 3])
    const late = start()
    expect(late.id).toBe(4)
    calls.resolve(4, 'done')
    const fifth = start()
    expect(fifth.id).toBe(5)
    await skipIdsTo(calls, MAX_ID - 3)
    // Before the first wrap ids count up one by one, pending or not, up to 2^31-1 itself.
    expect([calls.nextId(), calls.nextId(), calls.nextId(), calls.nextId()]).toEqual([MAX_ID - 3, MAX_ID - 2, MAX_ID - 1, MAX_ID])
    // 1, 2, 3 and 5 are still pending; 4 settled and is free again.
    expect(calls.nextId()).toBe(4)
    expect(calls.nextId()).toBe(6)
    expect(calls.nextId()).toBe(7)
    calls.resolve(1, 'done')
    // Once past an id, it is not revisited until the next wrap.
    expect(calls.nextId()).toBe(8)
  })

  test('after a wrap, skipping pending ids runs past 2^31-1 straight to 1', async () => {
    const { calls, start } = setup()
    const low = [start(), start(), start()]
    expect(low.map((p) => p.id)).toEqual([1, 2, 3])
    await skipIdsTo(calls, MAX_ID - 1)
    const high = [start(), start()]
    expect(high.map((p) => p.id)).toEqual([MAX_ID - 1, MAX_ID])
    // Wrapped: 1, 2 and 3 are pending.
    expect(calls.nextId()).toBe(4)
    // Round again to the two highest ids, both pending, then 1, 2 and 3: the first free id is 4.
    await skipIdsTo(calls, MAX_ID - 1)
    expect(calls.nextId()).toBe(4)
    expect(calls.nextId()).toBe(5)
    // Settled ids are free again on the next round.
    calls.resolve(MAX_ID, 'done')
    calls.resolve(2, 'done')
    await skipIdsTo(calls, MAX_ID - 1)
    expect([calls.nextId(), calls.nextId(), calls.nextId()]).toEqual([MAX_ID, 2, 4])
  })
})

describe('answers', () => {
  test('resolve settles the call with the value and forgets it', () => {
    const { calls, start } = setup()
    const { id, call } = start()
    calls.resolve(id, { answer: 42 })
    expect(call.result).toEqual({ answer: 42 })
    expect(calls.size).toBe(0)
    // A second answer is a late one.
    calls.resolve(id, 'again')
    expect(call.result).toEqual({ answer: 42 })
  })

  test('reject rebuilds the error from its envelope', () => {
    const { calls, start } = setup()
    const { id, call } = start()
    const thrown = Object.assign(new TypeError('bad input'), { code: 'E_BAD' })
    calls.reject(id, toEnvelope(thrown))
    expect(call.failed).toBe(true)
    const error = call.error as TypeError & { code: string }
    expect(error).toBeInstanceOf(TypeError)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.message).toBe('bad input')
    expect(error.code).toBe('E_BAD')
    // The remote stack, and a line naming the call.
    expect(error.stack).toBe(`${thrown.stack}\n    at remote call "method" (ipc-channel)`)
    expect(calls.size).toBe(0)
  })

  test('reject rebuilds registered error classes as themselves', () => {
    class QuotaError extends Error {
      override name = 'QuotaError'
    }
    const { calls, start } = setup({ errorClasses: [QuotaError] })
    const { id, call } = start()
    calls.reject(id, toEnvelope(new QuotaError('over quota')))
    expect(call.error).toBeInstanceOf(QuotaError)
    expect((call.error as Error).message).toBe('over quota')
  })

  test('reject with a malformed envelope fails the call with ProtocolError', () => {
    const { calls, start } = setup()
    const { id, call } = start()
    calls.reject(id, 'not an envelope')
    expect(call.error).toBeInstanceOf(ProtocolError)
    expect((call.error as Error).message).toBe('malformed error envelope')
  })

  test('a thrown value that is not an error comes back as itself', () => {
    const { calls, start } = setup()
    const { id, call } = start()
    calls.reject(id, toEnvelope({ plain: 'object' }))
    expect(call.error).toEqual({ plain: 'object' })
  })

  test('progress reaches the listeners of a pending call', () => {
    const { calls, start } = setup()
    const { id, call } = start()
    const seen: unknown[] = []
    void call.onProgress((value) => seen.push(value))
    calls.progress(id, 1)
    calls.progress(id, 2)
    expect(seen).toEqual([1, 2])
    expect(calls.size).toBe(1)
  })

  test('items and end make the result of an awaited stream', async () => {
    const { calls, start } = setup({ streamWindow: 64 })
    const { id, call } = start()
    const result = call.then((value) => value)
    expect(calls.item(id, 'a')).toBe(true)
    expect(calls.item(id, 'b')).toBe(true)
    calls.end(id)
    expect(await result).toEqual(['a', 'b'])
    expect(calls.size).toBe(0)
  })

  test('item() is false when the stream already holds a window of unconsumed items', () => {
    const { calls, start } = setup({ streamWindow: 2 })
    const { id } = start()
    expect(calls.item(id, 1)).toBe(true)
    expect(calls.item(id, 2)).toBe(true)
    expect(calls.item(id, 3)).toBe(false)
  })

  test('answers for ids that are not pending are ignored', () => {
    const { calls, start, log } = setup()
    const { id, call } = start()
    call.abort()
    // Late answers to a call given up on, and answers to ids never used.
    for (const unknown of [id, 999]) {
      calls.resolve(unknown, 'late')
      calls.reject(unknown, toEnvelope(new Error('late')))
      calls.progress(unknown, 'late')
      expect(calls.item(unknown, 'late')).toBe(true)
      calls.end(unknown)
    }
    expect(call.error).toBeInstanceOf(AbortError)
    expect(calls.size).toBe(0)
    expect(log).toEqual([
      ['withdraw', id],
      ['cancel', id, call.error],
    ])
  })

  test('an answer settles only its own call', () => {
    const { calls, start } = setup()
    const first = start()
    const second = start()
    calls.resolve(second.id, 'two')
    expect(first.call.finished).toBe(false)
    expect(second.call.result).toBe('two')
    expect(calls.size).toBe(1)
  })
})

describe('rejectAll', () => {
  test('rejects every pending call with the error', () => {
    const { calls, start } = setup()
    const all = [start(), start(), start()]
    const error = new ChannelClosedError('gone')
    calls.rejectAll(error)
    for (const { call } of all) expect(call.error).toBe(error)
    expect(calls.size).toBe(0)
  })

  test('keeps the ids given, pending, and rejects the others', () => {
    const { calls, start } = setup()
    const [a, b, c] = [start(), start(), start()]
    const error = new ChannelClosedError('gone')
    calls.rejectAll(error, new Set([a.id, c.id]))
    expect(a.call.finished).toBe(false)
    expect(b.call.error).toBe(error)
    expect(c.call.finished).toBe(false)
    expect(calls.size).toBe(2)
    // The kept calls still settle from answers.
    calls.resolve(a.id, 'a')
    expect(a.call.result).toBe('a')
  })

  test('keeping every pending call rejects nothing', () => {
    const { calls, start } = setup()
    const [a, b] = [start(), start()]
    calls.rejectAll(new ChannelClosedError(), new Set([a.id, b.id]))
    expect(calls.size).toBe(2)
  })

  // The outbox reports the unsent calls it kept; a call the peer answered while its frame was still
  // queued (a peer answering an id it was never sent) is kept there but no longer pending. A sent,
  // pending call must still be rejected, or it would wait for ever.
  test('rejects a pending call that is not kept even when `keep` names ids that are not pending', () => {
    const { calls, start } = setup()
    const sent = start()
    const error = new ChannelClosedError('gone')
    calls.rejectAll(error, new Set([998, 999]))
    expect(sent.call.error).toBe(error)
    expect(calls.size).toBe(0)
  })
})

describe('cancelCall', () => {
  test('withdraws a call that was not sent yet instead of telling the peer', () => {
    const { calls, start, log, state } = setup()
    const { id, call } = start()
    state.unsent.add(id)
    call.abort('changed my mind')
    expect(log).toEqual([['withdraw', id]])
    expect(calls.size).toBe(0)
    expect(call.error).toBeInstanceOf(AbortError)
    expect((call.error as Error).cause).toBe('changed my mind')
  })

  test('sends a cancel with the reason for a call that was sent', () => {
    const { calls, start, log } = setup()
    const { id, call } = start()
    const reason = new Error('stop')
    call.abort(reason)
    expect(log).toEqual([
      ['withdraw', id],
      ['cancel', id, reason],
    ])
    expect(calls.size).toBe(0)
  })

  test('without a reason, the cancel carries the AbortError itself', () => {
    const { start, log } = setup()
    const { id, call } = start()
    call.abort()
    expect(log).toEqual([
      ['withdraw', id],
      ['cancel', id, call.error],
    ])
  })

  test('does nothing but forget the call while the channel is ending', () => {
    const { calls, start, log, state } = setup()
    const { call } = start()
    state.ending = true
    call.abort('bye')
    expect(log).toEqual([])
    expect(calls.size).toBe(0)
  })

  test('does nothing for an id that is not pending', () => {
    const { calls, start, log } = setup()
    const { id } = start()
    calls.resolve(id, 'done')
    calls.cancelCall(id, 'too late')
    calls.cancelCall(12345, 'never')
    expect(log).toEqual([])
  })
})

describe('grantCredit', () => {
  test('passes credit on for a pending call while connected', () => {
    const { calls, start, log } = setup()
    const { id } = start()
    calls.grantCredit(id, 3)
    expect(log).toEqual([['credit', id, 3]])
  })

  test('sends nothing while not connected, or for a call that is not pending', () => {
    const { calls, start, log, state } = setup()
    const { id } = start()
    state.connected = false
    calls.grantCredit(id, 3)
    state.connected = true
    calls.grantCredit(999, 3)
    calls.resolve(id, 'done')
    calls.grantCredit(id, 3)
    expect(log).toEqual([])
  })

  test('an awaited stream grants credit through its owner in batches of half the window', async () => {
    const { calls, start, log } = setup({ streamWindow: 4 })
    const { id, call } = start()
    const result = call.then((value) => value)
    for (const item of [1, 2, 3]) calls.item(id, item)
    expect(log).toEqual([['credit', id, 2]])
    calls.end(id)
    expect(await result).toEqual([1, 2, 3])
  })
})

describe('arm', () => {
  test('a deadline rejects the call with TimeoutError and cancels it', () => {
    vi.useFakeTimers()
    const { calls, start, log } = setup()
    const { id, call } = start('slow')
    calls.arm(call, 100, undefined)
    vi.advanceTimersByTime(99)
    expect(call.finished).toBe(false)
    vi.advanceTimersByTime(1)
    expect(call.error).toBeInstanceOf(TimeoutError)
    expect((call.error as Error).message).toBe('call "slow" timed out after 100 ms')
    expect(log).toEqual([
      ['withdraw', id],
      ['cancel', id, call.error],
    ])
    expect(calls.size).toBe(0)
  })

  test('without a timeout, no timer is armed', () => {
    vi.useFakeTimers()
    const { calls, start } = setup()
    const { call } = start()
    calls.arm(call, undefined, undefined)
    expect(vi.getTimerCount()).toBe(0)
  })

  test('a settled call clears its deadline', () => {
    vi.useFakeTimers()
    const { calls, start } = setup()
    const { id, call } = start()
    calls.arm(call, 100, undefined)
    expect(vi.getTimerCount()).toBe(1)
    calls.resolve(id, 'in time')
    expect(vi.getTimerCount()).toBe(0)
  })

  test('aborting the signal aborts the call with the signal reason', () => {
    const { calls, start, log } = setup()
    const { id, call } = start('work')
    const controller = new AbortController()
    calls.arm(call, undefined, controller.signal)
    const reason = new Error('user left')
    controller.abort(reason)
    expect(call.error).toBeInstanceOf(AbortError)
    expect((call.error as Error).message).toBe('call "work" was aborted')
    expect((call.error as Error).cause).toBe(reason)
    expect(log).toEqual([
      ['withdraw', id],
      ['cancel', id, reason],
    ])
  })

  test('removes its abort listener when the call settles', () => {
    const { calls, start } = setup()
    const controller = new AbortController()
    const answered = start()
    calls.arm(answered.call, undefined, controller.signal)
    const failed = start()
    calls.arm(failed.call, undefined, controller.signal)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(2)
    calls.resolve(answered.id, 'done')
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    calls.rejectAll(new ChannelClosedError())
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    expect(failed.call.error).toBeInstanceOf(ChannelClosedError)
  })

  test('a listener that fired is gone too', () => {
    const { calls, start } = setup()
    const controller = new AbortController()
    const { call } = start()
    calls.arm(call, undefined, controller.signal)
    controller.abort()
    expect(call.failed).toBe(true)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })
})
