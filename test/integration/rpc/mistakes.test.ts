/**
 * What a user sees for the common mistakes, across processes: error events nobody listens to, a
 * misspelt method or notification, namespaces, a remote error's stack, a notification the peer cannot
 * run. The server runs in test/fixtures/mistakes.mjs, the client here.
 */
import { once } from 'node:events'
import { describe, expect, onTestFinished, test } from 'vitest'
import { AuthenticationError, ChannelClosedError, MethodNotFoundError, RemoteError, connect } from '../../../dist/index.js'
import { mailbox } from '../../helpers/mailbox.js'
import { rejection } from '../../helpers/outcome.js'
import { spawnFixture, tempSocket, type Fixture } from '../../helpers/processes.js'
import { connectClient, nextMessage, within } from '../support.js'

interface Api {
  echo<T>(value: T): T
  add(a: number, b: number): number
  auth: {
    checkPassword(user: string, password: string): boolean
    admin: { users(): string[] }
  }
}

interface Warning {
  [key: string]: unknown
  type: 'warning'
  name: string
  code: string
  message: string
}

async function startMistakes(options: { secret?: string; listen?: boolean } = {}): Promise<{ fixture: Fixture; path: string }> {
  const path = tempSocket()
  const fixture = spawnFixture('mistakes.mjs', [path, JSON.stringify(options)])
  await nextMessage(fixture, 'listening')
  return { fixture, path }
}

/** Warnings this process emits while the test runs. */
function recordWarnings(): Error[] {
  const warnings: Error[] = []
  const listener = (warning: Error): void => {
    warnings.push(warning)
  }
  process.on('warning', listener)
  onTestFinished(() => {
    process.off('warning', listener)
  })
  return warnings
}

describe("'error' events nobody listens to", () => {
  test('a server without a listener prints one warning for the first, keeps serving, and does not crash', async () => {
    const { fixture, path } = await startMistakes({ secret: 'right' })
    for (let i = 0; i < 2; i++) {
      expect(await rejection(connect(path, { secret: 'wrong' }))).toBeInstanceOf(AuthenticationError)
    }
    const warning = await nextMessage<Warning>(fixture, 'warning')
    expect(warning).toMatchObject({ name: 'IpcChannelWarning', code: 'IPC_CHANNEL_UNHEARD_ERROR' })
    expect(warning.message).toMatchInlineSnapshot(
      `"Server had an 'error' event and no listener for it: AuthenticationError: the peer failed to prove the secret. Later ones of this Server are not shown: listen with .on('error', ...) to see them all."`,
    )
    const client = await connectClient(path, { secret: 'right' })
    expect(await client.rpc('add', 1, 2)).toBe(3)
    client.notify('nobodyHome')
    expect(await client.rpc('add', 2, 2)).toBe(4)
    expect(await mailbox(fixture).ask({ cmd: 'ping' }, 'pong')).toMatchObject({ channels: 1 })
    expect(mailbox(fixture).all('warning')).toHaveLength(1)
  })

  test('a client without a listener warns once in its own process', async () => {
    const { path } = await startMistakes()
    const warnings = recordWarnings()
    const client = await connectClient(path, { notifyErrors: true })
    const warned = once(process, 'warning')
    client.notify('ecoh', 1)
    client.notify('explode')
    expect(await client.rpc('add', 1, 1)).toBe(2)
    await within(5000, warned, 'the warning')
    expect(
      warnings.filter((warning) => (warning as { code?: string }).code === 'IPC_CHANNEL_UNHEARD_ERROR').map((warning) => warning.message),
    ).toEqual([
      expect.stringContaining(`Client had an 'error' event and no listener for it: MethodNotFoundError: notification for an unknown method: "ecoh"`),
    ])
  })
})

describe('names that are not exposed', () => {
  test('a misspelt method: the closest exposed name and how many there are', async () => {
    const { path } = await startMistakes()
    const client = await connectClient(path)
    const error = await rejection<MethodNotFoundError>(client.rpc('ecoh', 1))
    expect(error).toBeInstanceOf(MethodNotFoundError)
    expect(error.message).toMatchInlineSnapshot(`"method not found: "ecoh" (did you mean "echo"? 7 names are exposed)"`)
    expect((await rejection<Error>(client.rpc('auth.checkPasword'))).message).toMatchInlineSnapshot(
      `"method not found: "auth.checkPasword" (did you mean "auth.checkPassword"? 7 names are exposed)"`,
    )
    expect((await rejection<Error>(client.rpc('checkPassword'))).message).toMatchInlineSnapshot(
      `"method not found: "checkPassword" (did you mean "auth.checkPassword"? 7 names are exposed)"`,
    )
    // Nothing close: nothing suggested.
    expect((await rejection<Error>(client.rpc('somethingElseEntirely'))).message).toBe('method not found: "somethingElseEntirely"')
  })

  test("a notification to a name the peer lacks: on the peer's error event, and on the sender's when it asks", async () => {
    const { fixture, path } = await startMistakes({ listen: true })
    const asking = await connectClient(path, { notifyErrors: true })
    const errors: Error[] = []
    asking.on('error', (error) => errors.push(error))
    asking.notify('ecoh', 'hello')
    asking.notify('explode')
    expect(await asking.rpc('add', 1, 1)).toBe(2)
    expect(errors.map((error) => `${error.name}: ${error.message}`)).toEqual([
      'MethodNotFoundError: notification for an unknown method: "ecoh" (did you mean "echo"? 7 names are exposed)',
      'RangeError: the handler exploded',
    ])
    expect(errors[0]).toBeInstanceOf(MethodNotFoundError)
    expect(errors[1]).toBeInstanceOf(RangeError)
    expect(errors[1]).toBeInstanceOf(RemoteError)
    expect(errors[0].stack).toContain('    at remote notify "ecoh" (ipc-channel)')
    expect(errors[1].stack).toContain('mistakes.mjs')
    // The peer reports both on its own error event too.
    expect(await nextMessage(fixture, 'server-error')).toMatchObject({ name: 'MethodNotFoundError' })
    expect(await nextMessage(fixture, 'server-error')).toMatchObject({ name: 'RangeError', message: 'the handler exploded' })

    // A sender that did not ask hears nothing.
    const silent = await connectClient(path)
    const unheard: Error[] = []
    silent.on('error', (error) => unheard.push(error))
    silent.notify('ecoh', 'hello')
    expect(await silent.rpc('add', 1, 1)).toBe(2)
    expect(await nextMessage(fixture, 'server-error')).toMatchObject({ name: 'MethodNotFoundError' })
    expect(unheard).toEqual([])
  })
})

describe('namespaces', () => {
  test('nested objects are exposed under dotted names, called by name or through nested proxies, and unexposed together', async () => {
    const { fixture, path } = await startMistakes()
    const client = await connectClient(path)
    expect(await client.rpc('auth.checkPassword', 'alice', 'wonderland')).toBe(true)
    const api = client.remote<Api>()
    expect(await api.auth.checkPassword('alice', 'guess')).toBe(false)
    expect(await api.auth.admin.users()).toEqual(['alice'])
    expect(await api.echo('plain')).toBe('plain')
    expect(await mailbox(fixture).ask({ cmd: 'unexpose', name: 'auth' }, 'unexposed')).toMatchObject({ removed: true })
    for (const call of [api.auth.checkPassword('alice', 'wonderland'), api.auth.admin.users()]) {
      expect(await rejection(call)).toBeInstanceOf(MethodNotFoundError)
    }
    expect(await api.add(2, 3)).toBe(5)
  })
})

describe("a remote error's stack", () => {
  test('the remote frames, then a line naming the call; the local call site only with callSites', async () => {
    const { path } = await startMistakes()
    const plain = await connectClient(path)
    const error = await rejection<TypeError>(plain.rpc('fail', 'x'))
    const lines = error.stack!.split('\n')
    expect(lines[0]).toBe('TypeError: failed: x')
    expect(lines[1]).toContain('mistakes.mjs')
    expect(lines.at(-1)).toBe('    at remote call "fail" (ipc-channel)')
    expect(error.stack).not.toContain('mistakes.test.ts')

    const traced = await connectClient(path, { callSites: true })
    for (const call of [traced.rpc('fail', 'y'), traced.call('fail', ['y']), traced.remote<{ fail(text: string): void }>().fail('y')]) {
      const stack = (await rejection<Error>(call)).stack!.split('\n')
      const marker = stack.indexOf('    at remote call "fail" (ipc-channel)')
      expect(marker).toBeGreaterThan(1)
      // The first frame below the marker is this test, where the call was made: no library frame between.
      expect(stack[marker + 1]).toContain('mistakes.test.ts')
    }
  })
})

test('a connection that drops says so once', async () => {
  const { fixture, path } = await startMistakes()
  const client = await connectClient(path)
  const pending = rejection<ChannelClosedError>(client.rpc('hang'))
  // A round trip behind it: the hanging call has reached the server.
  expect(await client.rpc('add', 1, 1)).toBe(2)
  fixture.child.kill('SIGKILL')
  const error = await within(5000, pending, 'the pending call')
  expect(error).toBeInstanceOf(ChannelClosedError)
  expect(error.message).toBe('the connection was lost')
})
