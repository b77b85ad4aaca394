/**
 * fromMessagePort refuses at once what is not a port, naming what to pass instead, rather than failing
 * later with `port.addEventListener is not a function`.
 */
import { MessageChannel as NodeMessageChannel } from 'node:worker_threads'
import { expect, test } from 'vitest'
import { fromMessagePort, type MessagePortLike } from '../../src/index.js'

test('a MessageChannel is refused with a TypeError saying to pass channel.port1', () => {
  for (const channel of [new MessageChannel(), new NodeMessageChannel()]) {
    expect(() => fromMessagePort(channel as unknown as MessagePortLike)).toThrow(
      new TypeError('fromMessagePort() takes one port, not a MessageChannel: pass channel.port1 here and channel.port2 to the other end'),
    )
    channel.port1.close()
  }
})

test('anything else that is not a port is refused, saying what it is', () => {
  expect(() => fromMessagePort({} as MessagePortLike)).toThrow(/^fromMessagePort\(\) takes a MessagePort, .* not an object$/)
  expect(() => fromMessagePort(undefined as unknown as MessagePortLike)).toThrow(TypeError)
})

test('a port is taken', async () => {
  const { port1, port2 } = new MessageChannel()
  const channel = fromMessagePort(port1)
  await channel.destroy()
  port2.close()
})
