import { PassThrough } from 'node:stream'
import { describe, expect, test } from 'vitest'
import {
  Channel,
  Client,
  Server,
  connectParent,
  fromStream,
  spawnChild,
  type ChannelOptions,
  type ClientOptions,
  type ReconnectOptions,
  type ServerOptions,
  type StreamOptions,
} from '../../src/index.js'
import { tempSocket } from '../helpers/processes.js'
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
      callSites: false,
      notifyErrors: false,
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
      callSites: true,
      notifyErrors: true,
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
      callSites: true,
      notifyErrors: true,
      introspection: false,
      trace,
    })
  })

  test('zero is a value, not a request for the default: no call waits for a slot, none is queued while not connected', () => {
    const resolved = resolveOptions({ maxWaitingCalls: 0, maxQueuedCalls: 0, maxReferences: 0 })
    expect(resolved).toMatchObject({ maxWaitingCalls: 0, maxQueuedCalls: 0, maxReferences: 0 })
  })

  test.each([-1, 0.5, 2 ** 31, Number.NaN, Number.POSITIVE_INFINITY])('maxReferences %s is a RangeError', (maxReferences) => {
    expect(thrownBy(() => resolveOptions({ maxReferences }))).toEqual(
      new RangeError(`maxReferences must be a whole number from 0 to 2147483646, not the number ${maxReferences}`),
    )
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
      expect(thrownBy(() => resolveOptions({ streamWindow }))).toEqual(
        new RangeError(`streamWindow must be a whole number from 1 to 65536, not the number ${streamWindow}`),
      )
    },
  )

  // The window is announced in the hello, where the peer takes only a whole number and otherwise assumes
  // 64, while this side would enforce the fraction (InProgress.item): a compliant peer streaming to a
  // slow `for await` loop would then fail the connection with "stream 1 sent more items than its credit
  // allows". A fraction is refused like the values above.
  test('a fractional streamWindow is refused', () => {
    const thrown = thrownBy(() => resolveOptions({ streamWindow: 1.5 }))
    expect(thrown).toBeInstanceOf(RangeError)
    expect((thrown as Error).message).toBe('streamWindow must be a whole number from 1 to 65536, not the number 1.5')
  })

  test('maxFrameSize 1024 is the smallest allowed', () => {
    expect(MIN_FRAME_SIZE).toBe(1024)
    expect(resolveOptions({ maxFrameSize: 1024 }).maxFrameSize).toBe(1024)
  })

  test.each([1023, 0, -1, Number.NaN, Number.NEGATIVE_INFINITY])('maxFrameSize %s is a RangeError', (maxFrameSize) => {
    expect(thrownBy(() => resolveOptions({ maxFrameSize }))).toEqual(
      new RangeError(`maxFrameSize must be a whole number of at least 1024, not the number ${maxFrameSize}`),
    )
  })

  test('the streamWindow is checked before the maxFrameSize', () => {
    expect((thrownBy(() => resolveOptions({ streamWindow: 0, maxFrameSize: 0 })) as Error).message).toBe(
      'streamWindow must be a whole number from 1 to 65536, not the number 0',
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

describe('checked where the channel, client, server or link is made', () => {
  /** The message of what `make` throws, with its class. */
  function thrown(make: () => unknown): string {
    const error = thrownBy(make) as Error
    return `${error.constructor.name}: ${error.message}`
  }

  test('a misspelt option name is refused, with the closest name and every name', () => {
    expect(thrown(() => new Client(tempSocket(), { secrett: 's' } as ClientOptions))).toMatchInlineSnapshot(
      `"TypeError: Client: unknown option "secrett" (did you mean "secret"?). The options are: secret, maxFrameSize, handshakeTimeout, callTimeout, errors, streamWindow, heartbeat, maxHandshakeBytes, maxConcurrentCalls, maxWaitingCalls, maxBufferedBytes, sendStacks, maxQueuedCalls, maxReferences, callSites, notifyErrors, introspection, trace, reconnect, tls, nats"`,
    )
    expect(thrown(() => new Server(tempSocket(), { tsl: {} } as ServerOptions))).toMatch(
      /^TypeError: Server: unknown option "tsl" \(did you mean "tls"\?\)\. /,
    )
    expect(thrown(() => new Channel({ callTimout: 5 } as ChannelOptions))).toMatch(
      /^TypeError: Channel: unknown option "callTimout" \(did you mean "callTimeout"\?\)\. /,
    )
    expect(thrown(() => fromStream(new PassThrough(), { rol: 'client' } as StreamOptions))).toMatch(
      /^TypeError: fromStream: unknown option "rol" \(did you mean "role"\?\)/,
    )
    expect(thrown(() => new Channel({ unheardOf: true } as ChannelOptions))).toMatch(
      /^TypeError: Channel: unknown option "unheardOf"\. The options are: secret, /,
    )
    expect(thrown(() => new Client(tempSocket(), { reconnect: { maxAttempt: 3 } as ReconnectOptions }))).toMatchInlineSnapshot(
      `"TypeError: reconnect: unknown option "maxAttempt" (did you mean "maxAttempts"?). The options are: initialDelay, maxDelay, maxAttempts"`,
    )
    expect(thrown(() => new Channel({ heartbeat: { intervall: 10 } as never }))).toMatchInlineSnapshot(
      `"TypeError: heartbeat: unknown option "intervall" (did you mean "interval"?). The options are: interval, timeout"`,
    )
  })

  test('an option of the wrong type is refused at once, without showing a secret', () => {
    expect(thrown(() => new Client(tempSocket(), { secret: 42 as unknown as string }))).toMatchInlineSnapshot(
      `"TypeError: secret must be a string or a Uint8Array, not a number"`,
    )
    expect(thrown(() => new Channel({ secret: { key: 'hunter2' } as unknown as string }))).toBe(
      'TypeError: secret must be a string or a Uint8Array, not an object',
    )
    expect(thrown(() => new Server(tempSocket(), { callTimeout: '5s' as unknown as number }))).toMatchInlineSnapshot(
      `"TypeError: callTimeout must be a number of milliseconds, not the string "5s""`,
    )
    expect(thrown(() => new Channel({ callTimeout: -1 }))).toMatchInlineSnapshot(
      `"RangeError: callTimeout must be a finite number of milliseconds from 0, not -1"`,
    )
    expect(thrown(() => new Channel({ heartbeat: true as unknown as false }))).toMatchInlineSnapshot(
      `"TypeError: heartbeat must be false or { interval, timeout }, not the boolean true"`,
    )
    expect(thrown(() => new Channel({ maxConcurrentCalls: 0 }))).toMatchInlineSnapshot(
      `"RangeError: maxConcurrentCalls must be a whole number of at least 1 (or Infinity), not 0"`,
    )
    expect(thrown(() => new Channel({ errors: [new Error('not a class')] as never }))).toMatchInlineSnapshot(
      `"TypeError: errors must be an array of error classes, not an array"`,
    )
    expect(thrown(() => new Channel({ sendStacks: 'no' as unknown as boolean }))).toMatchInlineSnapshot(
      `"TypeError: sendStacks must be a boolean, not the string "no""`,
    )
    expect(thrown(() => new Client(tempSocket(), { reconnect: 'yes' as unknown as boolean }))).toMatchInlineSnapshot(
      `"TypeError: reconnect must be a boolean or { initialDelay, maxDelay, maxAttempts }, not the string "yes""`,
    )
    expect(thrown(() => new Server(tempSocket(), { tls: true as never }))).toMatchInlineSnapshot(
      `"TypeError: tls must be an object of TLS options, not the boolean true"`,
    )
    expect(thrown(() => fromStream(new PassThrough(), { role: 'host' as never }))).toMatchInlineSnapshot(
      `"TypeError: role must be 'auto', 'client' or 'server', not the string "host""`,
    )
  })

  test('options set to undefined count as absent', () => {
    expect(() => new Channel({ secret: undefined, callTimeout: undefined, heartbeat: undefined })).not.toThrow()
    const client = new Client(tempSocket(), { reconnect: undefined, tls: undefined })
    void client.destroy()
  })

  test('spawnChild and connectParent check their option names too', async () => {
    const spawnError = await spawnChild('/nonexistent.mjs', [], { stdoi: 'pipe' } as never).then(
      () => undefined,
      (error: Error) => error,
    )
    expect(spawnError?.message).toMatch(
      /^spawnChild: unknown option "stdoi" \(did you mean "stdio"\?\)\. The options are: .*, expose, setup, stdio, cwd, env, execPath, execArgv$/,
    )
    const parentError = await connectParent({ expos: {} } as never).then(
      () => undefined,
      (error: Error) => error,
    )
    expect(parentError?.message).toMatch(/^connectParent: unknown option "expos" \(did you mean "expose"\?\)/)
  })
})
