/**
 * sendStacks: whether the stack of an error a handler throws travels to the caller. The library's own
 * errors (method not found, ...) never carry one, whatever the option. On the caller's side every
 * error from the peer ends with a line naming the call, and with callSites, where it was made.
 */
import { expect, test } from 'vitest'
import { MethodNotFoundError } from '../../src/index.js'
import { rejection } from '../helpers/outcome.js'
import { connectedPair } from '../helpers/pairs.js'

function thrower(): never {
  throw new TypeError('bad input')
}

test('by default the remote stack of an application error arrives, naming where it was thrown', async () => {
  const { server, client } = await connectedPair()
  server.expose('thrower', thrower)
  const error = (await rejection(client.rpc('thrower'))) as TypeError
  expect(error).toBeInstanceOf(TypeError)
  expect(error.stack).toContain('thrower')
})

test('with sendStacks: false the handler side sends no stack: the caller sees only its own', async () => {
  const { server, client } = await connectedPair({ sendStacks: false }, {})
  server.expose('thrower', thrower)
  const error = (await rejection(client.rpc('thrower'))) as TypeError
  expect(error).toBeInstanceOf(TypeError)
  expect(error.message).toBe('bad input')
  // No remote frame: only the line naming the call, which every error from the peer gets.
  expect(error.stack).toBe('TypeError: bad input\n    at remote call "thrower" (ipc-channel)')
})

test('the library never sends the stack of its own errors', async () => {
  const { client } = await connectedPair()
  const error = (await rejection(client.rpc('missing'))) as MethodNotFoundError
  expect(error).toBeInstanceOf(MethodNotFoundError)
  expect(error.stack).toBe('MethodNotFoundError: method not found: "missing"\n    at remote call "missing" (ipc-channel)')
})

test('with callSites, where the call was made follows the line naming it; without, nothing does', async () => {
  const { server, client } = await connectedPair({}, { callSites: true })
  server.expose('thrower', thrower)
  server.expose('give', () => thrower)
  const api = client.remote<{ thrower(): void; give(): () => void }>()
  // A stub's calls start a frame further from the caller: the stub, then the reference tables.
  const stub = await api.give()
  for (const call of [client.rpc('thrower'), client.call('thrower', []), api.thrower(), stub()]) {
    const lines = ((await rejection(call)) as Error).stack!.split('\n')
    // A stub's call is named after its reference.
    const marker = lines.findIndex((line) => /^ {4}at remote call "(thrower|reference \d+)" \(ipc-channel\)$/.test(line))
    expect(marker).toBeGreaterThan(0)
    // No frame of the library between the marker and this test.
    expect(lines[marker + 1]).toContain('send-stacks.test.ts')
  }
  const { server: other, client: plain } = await connectedPair()
  other.expose('thrower', thrower)
  const lines = ((await rejection(plain.rpc('thrower'))) as Error).stack!.split('\n')
  expect(lines.at(-1)).toBe('    at remote call "thrower" (ipc-channel)')
})
