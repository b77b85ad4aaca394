/**
 * The shared secret: a fixture server process and a client in the test process prove it to each other;
 * any mismatch fails on both sides with AuthenticationError, within a second.
 */
import { describe, expect, test } from 'vitest'
import { AuthenticationError, ChannelClosedError, IpcError } from '../../../dist/index.js'
import { outcome } from '../../helpers/outcome.js'
import { connectClient, newClient, nextMessage, startServer, within, type DescribedError, type FixtureMessage } from '../support.js'

interface ServerError extends FixtureMessage {
  error: DescribedError
}

/** Connects with `clientSecret` and waits, within `ms`, for both sides to fail. */
async function expectBothSidesFail(
  path: string,
  fixture: Awaited<ReturnType<typeof startServer>>['fixture'],
  clientSecret: string | undefined,
  ms = 1000,
) {
  const serverError = nextMessage<ServerError>(fixture, 'server-error')
  const client = newClient(path, clientSecret === undefined ? {} : { secret: clientSecret })
  const [ready, reported] = await within(ms, Promise.all([outcome(client.ready()), serverError]), 'failing authentication on both sides')
  return { client, ready, reported }
}

describe('shared secret', () => {
  test('the right secret works, as text or as bytes', async () => {
    const { fixture, path } = await startServer({ secret: 's3cret' })
    const text = await connectClient(path, { secret: 's3cret' })
    expect(await text.rpc('add', 1, 2)).toBe(3)
    const bytes = await connectClient(path, { secret: new TextEncoder().encode('s3cret') })
    expect(await bytes.rpc('pid')).toBe(fixture.child.pid)
    fixture.send({ cmd: 'errors' })
    expect((await nextMessage(fixture, 'errors')).errors).toEqual([])
  })

  test('a wrong secret rejects ready() and makes the server emit error, both with AuthenticationError within a second', async () => {
    expect.assertions(8)
    const { fixture, path } = await startServer({ secret: 'right' })
    const started = Date.now()
    const { client, ready, reported } = await expectBothSidesFail(path, fixture, 'wrong')
    expect(Date.now() - started).toBeLessThan(1000)
    expect(ready.status).toBe('rejected')
    const error = (ready as { reason: AuthenticationError }).reason
    expect(error).toBeInstanceOf(AuthenticationError)
    expect(error.code).toBe('ERR_AUTHENTICATION')
    expect(reported.error).toMatchObject({ name: 'AuthenticationError', code: 'ERR_AUTHENTICATION', authentication: true })
    expect(client.connected).toBe(false)
    // The server goes on: the right secret still works afterwards.
    const good = await connectClient(path, { secret: 'right' })
    expect(await good.rpc('add', 2, 2)).toBe(4)
    await nextMessage(fixture, 'connection')
    fixture.send({ cmd: 'channels' })
    expect(await nextMessage(fixture, 'channels')).toMatchObject({ count: 1 })
  })

  test('calls queued before a failed authentication reject instead of hanging', async () => {
    expect.assertions(3)
    const { fixture, path } = await startServer({ secret: 'right' })
    const serverError = nextMessage<ServerError>(fixture, 'server-error')
    const client = newClient(path, { secret: 'wrong' })
    const queued = client.rpc('add', 1, 2)
    const settled = await within(1000, outcome(queued), 'the queued call')
    expect(settled.status).toBe('rejected')
    const reason = (settled as { reason: unknown }).reason
    expect(reason instanceof AuthenticationError || reason instanceof ChannelClosedError).toBe(true)
    expect(reason).toBeInstanceOf(IpcError)
    await serverError
  })

  test('a client without a secret against a server with one: both sides fail with AuthenticationError', async () => {
    expect.assertions(4)
    const { fixture, path } = await startServer({ secret: 'needed' })
    const { ready, reported } = await expectBothSidesFail(path, fixture, undefined)
    expect(ready.status).toBe('rejected')
    const error = (ready as { reason: AuthenticationError }).reason
    expect(error).toBeInstanceOf(AuthenticationError)
    expect(error.message).toMatchInlineSnapshot(`"the peer requires a secret and none was given"`)
    expect(reported.error).toMatchObject({
      name: 'AuthenticationError',
      code: 'ERR_AUTHENTICATION',
      authentication: true,
      message: 'a secret was given but the peer does not authenticate',
    })
  })

  test('a client with a secret against a server without one: both sides fail with AuthenticationError', async () => {
    expect.assertions(4)
    const { fixture, path } = await startServer()
    const { ready, reported } = await expectBothSidesFail(path, fixture, 'unexpected')
    expect(ready.status).toBe('rejected')
    const error = (ready as { reason: AuthenticationError }).reason
    expect(error).toBeInstanceOf(AuthenticationError)
    expect(error.message).toMatchInlineSnapshot(`"a secret was given but the peer does not authenticate"`)
    expect(reported.error).toMatchObject({
      name: 'AuthenticationError',
      code: 'ERR_AUTHENTICATION',
      authentication: true,
      message: 'the peer requires a secret and none was given',
    })
  })
})
