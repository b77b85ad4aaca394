/**
 * Call lifecycle, part 5: notifications have no reply, so a handler that throws (or rejects) is
 * reported to the receiving side's `error` event and never to the sender, which sees nothing and keeps
 * working. Both directions: the client in the test notifies the fixture server, and the reverse.
 */
import { describe, expect, test } from 'vitest'
import { MethodNotFoundError } from '../../../dist/index.js'
import { nextMessage, recordMishaps, serverAndClient, signalled, within, type Described, type FixtureMessage } from './support.js'

interface ChannelError extends FixtureMessage {
  error: Described
}

interface Errors extends FixtureMessage {
  errors: Described[]
}

describe('a notification handler that throws', () => {
  test.each<[string, Partial<Described>]>([
    ['sync', { name: 'TypeError', message: 'notification handler failed synchronously' }],
    ['async', { name: 'RangeError', message: 'notification handler failed asynchronously' }],
    ['value', { name: 'Error', message: 'notification handler "failingNotification" threw', cause: { kind: 'string', value: 'a thrown string' } }],
  ])('(%s) is reported to the receiving process, never to the sender', async (kind, reported) => {
    const { fixture, client } = await serverAndClient()
    const mishaps = recordMishaps(client)
    expect(client.notify('failingNotification', kind)).toBeUndefined()
    const error = await within(5000, nextMessage<ChannelError>(fixture, 'channel-error'), "the receiver's error event")
    expect(error.error).toMatchObject({ kind: 'error', ...reported })
    // Whatever the receiver sent up to now arrives before this answer: the sender saw nothing.
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    expect(mishaps).toEqual({ errors: [], unhandled: [] })
    expect(client.connected).toBe(true)
    // The receiving channel keeps working too, and counted exactly one error.
    expect(await within(5000, client.rpc('channelErrors'), 'channelErrors')).toHaveLength(1)
  })

  test('a notification for an unknown name is reported to the receiver as MethodNotFoundError', async () => {
    const { fixture, client } = await serverAndClient()
    const mishaps = recordMishaps(client)
    client.notify('noSuchHandler', 1)
    const error = await within(5000, nextMessage<ChannelError>(fixture, 'channel-error'), "the receiver's error event")
    expect(error.error).toMatchObject({ name: 'MethodNotFoundError', code: 'ERR_METHOD_NOT_FOUND' })
    expect(error.error.message).toContain('noSuchHandler')
    expect(await within(5000, client.rpc('ping'), 'ping')).toBe('pong')
    expect(mishaps).toEqual({ errors: [], unhandled: [] })
  })

  test("the reverse: a throwing handler in the test process is reported to this side's error event; the server sees nothing", async () => {
    const handled = signalled<Error>()
    const { fixture, client } = await serverAndClient({}, undefined, (c) => {
      c.expose('explode', (what: string) => {
        throw new TypeError(`cannot handle ${what}`)
      })
      c.expose('explodeLater', async (what: string) => {
        throw new RangeError(`cannot handle ${what} later`)
      })
    })
    const errors: Error[] = []
    client.on('error', (error) => {
      errors.push(error)
      if (errors.length === 3) handled.resolve(error)
    })
    fixture.send({ cmd: 'notify', tag: 'sync', name: 'explode', args: ['this'] })
    fixture.send({ cmd: 'notify', tag: 'async', name: 'explodeLater', args: ['that'] })
    fixture.send({ cmd: 'notify', tag: 'unknown', name: 'nothingHere' })
    await within(5000, handled.promise, 'the error events')
    // A rejection is reported when it happens, so not necessarily in the order the notifications came.
    const byClass = (type: new (...args: never[]) => Error) => errors.filter((error) => error instanceof type)
    expect(byClass(TypeError).map((error) => error.message)).toEqual(['cannot handle this'])
    expect(byClass(RangeError).map((error) => error.message)).toEqual(['cannot handle that later'])
    expect(byClass(MethodNotFoundError).map((error) => error.message)).toEqual(['notification for an unknown method: "nothingHere"'])
    // The sender: after a round trip to this side, still no error of its own.
    fixture.send({ cmd: 'errors', tag: 'after' })
    expect(await within(5000, nextMessage<Errors>(fixture, 'errors', 'after'), "the server's errors")).toMatchObject({ errors: [] })
    expect(client.connected).toBe(true)
  })
})
