/**
 * sendStacks: whether the stack of an error a handler throws travels to the caller. The library's own
 * errors (method not found, ...) never carry one, whatever the option.
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
  expect(error.stack ?? '').not.toContain('thrower')
})

test('the library never sends the stack of its own errors', async () => {
  const { client } = await connectedPair()
  const error = (await rejection(client.rpc('missing'))) as MethodNotFoundError
  expect(error).toBeInstanceOf(MethodNotFoundError)
  expect(error.stack ?? '').not.toMatch(/incoming-calls|channel\.ts|at /)
})
