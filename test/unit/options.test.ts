import { describe, expect, test } from 'vitest'
import { DEFAULT_MAX_FRAME_SIZE, DEFAULTS, frameSizeOf, resolveOptions, type ResolvedOptions } from '../../src/core/options.js'
import { MAX_STREAM_WINDOW, MIN_FRAME_SIZE } from '../../src/protocol/messages.js'

const MiB = 1024 * 1024

/** What `fn` throws; fails the test when it does not throw. */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('DEFAULTS', () => {
  test('are the numbers the documentation states, and cannot be changed', () => {
    expect(DEFAULTS).toEqual({
      maxFrameSize: 64 * MiB,
      handshakeTimeout: 10_000,
      streamWindow: 64,
      heartbeat: { interval: 5000, timeout: 15_000 },
      maxHandshakeBytes: 65_536,
      maxConcurrentCalls: 1024,
      maxWaitingCalls: 1024,
      maxBufferedBytes: 64 * MiB,
      maxQueuedCalls: 1024,
      maxReferences: 100_000,
    })
    expect(DEFAULT_MAX_FRAME_SIZE).toBe(67_108_864)
    expect(Object.isFrozen(DEFAULTS)).toBe(true)
    expect(Object.isFrozen(DEFAULTS.heartbeat)).toBe(true)
  })
})

describe('resolveOptions', () => {
  test('fills in every default', () => {
    const expected: ResolvedOptions = {
      secret: undefined,
      errorClasses: undefined,
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      handshakeTimeout: 10_000,
      callTimeout: undefined,
      streamWindow: 64,
      heartbeat: { interval: 5000, timeout: 15_000 },
      maxHandshakeBytes: 65_536,
      maxConcurrentCalls: 1024,
      maxWaitingCalls: 1024,
      maxBufferedBytes: 64 * MiB,
      maxQueuedCalls: 1024,
      maxReferences: 100_000,
      sendStacks: true,
      introspection: true,
      trace: undefined,
    }
    expect(resolveOptions({})).toEqual(expected)
  })

  test('the result is frozen', () => {
    expect(Object.isFrozen(resolveOptions({}))).toBe(true)
  })

  test('takes every option given', () => {
    class AppError extends Error {}
    const trace = (): void => {}
    const resolved = resolveOptions({
      secret: new Uint8Array([1, 2, 3]),
      errors: [AppError],
      maxFrameSize: 1024,
      handshakeTimeout: 1,
      callTimeout: 2,
      streamWindow: 3,
      heartbeat: { interval: 4, timeout: 5 },
      maxHandshakeBytes: 6,
      maxConcurrentCalls: 7,
      maxWaitingCalls: 8,
      maxBufferedBytes: 9,
      maxQueuedCalls: 10,
      maxReferences: 11,
      sendStacks: false,
      introspection: false,
      trace,
    })
    expect(resolved).toEqual({
      secret: new Uint8Array([1, 2, 3]),
      errorClasses: new Map([['AppError', AppError]]),
      maxFrameSize: 1024,
      handshakeTimeout: 1,
      callTimeout: 2,
      streamWindow: 3,
      heartbeat: { interval: 4, timeout: 5 },
      maxHandshakeBytes: 6,
      maxConcurrentCalls: 7,
      maxWaitingCalls: 8,
      maxBufferedBytes: 9,
      maxQueuedCalls: 10,
      maxReferences: 11,
      sendStacks: false,
      introspection: false,
      trace,
    })
  })

  test('zero is a value, not a request for the default: no call waits for a slot, none is queued while not connected', () => {
    const resolved = resolveOptions({ maxWaitingCalls: 0, maxQueuedCalls: 0, maxReferences: 0 })
    expect(resolved).toMatchObject({ maxWaitingCalls: 0, maxQueuedCalls: 0, maxReferences: 0 })
  })

  test.each([-1, 0.5, 2 ** 31, Number.NaN, Number.POSITIVE_INFINITY])('maxReferences %s is a RangeError', (maxReferences) => {
    expect(thrownBy(() => resolveOptions({ maxReferences }))).toEqual(new RangeError('maxReferences must be a whole number from 0 to 2147483646'))
  })

  test('a secret given as text becomes its UTF-8 bytes; an empty one is a TypeError', () => {
    expect(resolveOptions({ secret: 'pässword' }).secret).toEqual(new TextEncoder().encode('pässword'))
    expect(() => resolveOptions({ secret: '' })).toThrow(new TypeError('secret must not be empty'))
    expect(() => resolveOptions({ secret: new Uint8Array(0) })).toThrow(TypeError)
  })

  test('heartbeat: false turns it off; a partial heartbeat takes the other default', () => {
    expect(resolveOptions({ heartbeat: false }).heartbeat).toBe(false)
    expect(resolveOptions({ heartbeat: { interval: 100 } }).heartbeat).toEqual({ interval: 100, timeout: 15_000 })
    expect(resolveOptions({ heartbeat: { timeout: 300 } }).heartbeat).toEqual({ interval: 5000, timeout: 300 })
    expect(resolveOptions({ heartbeat: {} }).heartbeat).toEqual({ interval: 5000, timeout: 15_000 })
  })

  test('no error classes and an empty list are the same', () => {
    expect(resolveOptions({ errors: [] }).errorClasses).toBeUndefined()
  })

  test('streamWindow 1 is the smallest allowed, 65536 the largest', () => {
    expect(resolveOptions({ streamWindow: 1 }).streamWindow).toBe(1)
    expect(resolveOptions({ streamWindow: 65_536 }).streamWindow).toBe(65_536)
    expect(MAX_STREAM_WINDOW).toBe(65_536)
  })

  test.each([0, -1, 0.5, 65_537, 2 ** 32, Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY])(
    'streamWindow %s is a RangeError',
    (streamWindow) => {
      expect(thrownBy(() => resolveOptions({ streamWindow }))).toEqual(new RangeError('streamWindow must be a whole number from 1 to 65536'))
    },
  )

  // The window is announced in the hello, where the peer takes only a whole number and otherwise assumes
  // 64, while this side would enforce the fraction (InProgress.item): a compliant peer streaming to a
  // slow `for await` loop would then fail the connection with "stream 1 sent more items than its credit
  // allows". A fraction is refused like the values above.
  test('a fractional streamWindow is refused', () => {
    const thrown = thrownBy(() => resolveOptions({ streamWindow: 1.5 }))
    expect(thrown).toBeInstanceOf(RangeError)
    expect((thrown as Error).message).toBe('streamWindow must be a whole number from 1 to 65536')
  })

  test('maxFrameSize 1024 is the smallest allowed', () => {
    expect(MIN_FRAME_SIZE).toBe(1024)
    expect(resolveOptions({ maxFrameSize: 1024 }).maxFrameSize).toBe(1024)
  })

  test.each([1023, 0, -1, Number.NaN, Number.NEGATIVE_INFINITY])('maxFrameSize %s is a RangeError', (maxFrameSize) => {
    expect(thrownBy(() => resolveOptions({ maxFrameSize }))).toEqual(new RangeError('maxFrameSize must be a whole number of at least 1024'))
  })

  test('the streamWindow is checked before the maxFrameSize', () => {
    expect((thrownBy(() => resolveOptions({ streamWindow: 0, maxFrameSize: 0 })) as Error).message).toBe(
      'streamWindow must be a whole number from 1 to 65536',
    )
  })

  test('each call resolves afresh', () => {
    const first = resolveOptions({ heartbeat: { interval: 1 } })
    const second = resolveOptions({ heartbeat: { interval: 1 } })
    expect(first).toEqual(second)
    expect(first).not.toBe(second)
  })
})

describe('frameSizeOf', () => {
  test('the maxFrameSize given, else 64 MiB', () => {
    expect(frameSizeOf({})).toBe(64 * MiB)
    expect(frameSizeOf({ maxFrameSize: undefined })).toBe(64 * MiB)
    expect(frameSizeOf({ maxFrameSize: 4096 })).toBe(4096)
  })

  test('is what resolveOptions uses', () => {
    for (const options of [{}, { maxFrameSize: 1234 }]) expect(resolveOptions(options).maxFrameSize).toBe(frameSizeOf(options))
  })
})
