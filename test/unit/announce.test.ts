/**
 * 'error' events nobody listens to: emitted, never thrown, and the first of each emitter printed as a
 * warning (process.emitWarning in Node, console.warn where there is no process).
 */
import { EventEmitter } from 'eventemitter3'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { Channel } from '../../src/index.js'
import { UNHEARD_ERROR_WARNING, emitError } from '../../src/core/announce.js'
import { connectedPair } from '../helpers/pairs.js'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('emitError', () => {
  test('with a listener: delivered, no warning', () => {
    const emitter = new EventEmitter()
    const seen: Error[] = []
    emitter.on('error', (error: Error) => seen.push(error))
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    emitError(emitter, new Error('heard'))
    expect(seen.map((error) => error.message)).toEqual(['heard'])
    expect(warn).not.toHaveBeenCalled()
  })

  test('without one: one warning per emitter, through process.emitWarning, with the stack as detail', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const first = new Channel()
    const second = new Channel()
    const error = new TypeError('nobody listens')
    expect(() => emitError(first, error)).not.toThrow()
    emitError(first, new Error('again'))
    emitError(second, new Error('another emitter'))
    expect(warn).toHaveBeenCalledTimes(2)
    expect(warn.mock.calls[0]).toEqual([
      "Channel had an 'error' event and no listener for it: TypeError: nobody listens. Later ones of this Channel are not shown: listen with .on('error', ...) to see them all.",
      { type: 'IpcChannelWarning', code: UNHEARD_ERROR_WARNING, detail: error.stack },
    ])
    expect(warn.mock.calls[1][0]).toContain('Error: another emitter')
  })

  test('where there is no process (a browser), console.warn', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'process')!
    Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true })
    try {
      emitError(new Channel(), new Error('in a page'))
    } finally {
      Object.defineProperty(globalThis, 'process', saved)
    }
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn.mock.calls[0][0]).toMatch(/^IpcChannelWarning: Channel had an 'error' event and no listener for it: Error: in a page\./)
  })

  test('a warning that cannot be printed does not throw either', () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {
      throw new Error('stderr is gone')
    })
    expect(() => emitError(new Channel(), new Error('lost'))).not.toThrow()
  })
})

describe('a channel', () => {
  test('a channel reports a notification to an unknown name through it: a warning, not a crash', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const { server, client } = await connectedPair()
    client.notify('nobodyHome', 1)
    client.notify('nobodyHome', 2)
    expect(await client.rpc('missing').then(undefined, (error: unknown) => (error as Error).name)).toBe('MethodNotFoundError')
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn.mock.calls[0][0]).toContain('MethodNotFoundError: notification for an unknown method: "nobodyHome"')
    expect(server.connected).toBe(true)
  })
})
