/**
 * When a port transport with batches posts (src/transports/message-port.ts): what the handling of a
 * message makes this side send leaves once that message has been handled, in one post, before any
 * microtask; what is sent later in the turn leaves in a microtask, after it. Over a real
 * worker_threads MessageChannel.
 */
import type { MessagePort } from 'node:worker_threads'
import { expect, test } from 'vitest'
import { messageChannel as channel } from '../helpers/message-channel.js'
import { within } from '../helpers/processes.js'
import type { Payload } from '../../src/protocol/framing.js'
import { BATCH_FEATURE, unpack } from '../../src/transports/port-batch.js'
import { MessagePortTransport } from '../../src/transports/message-port.js'

const DEADLINE_MS = 5000

/** The payloads of each post `port` receives, as strings of their bytes, until `count` posts. */
function posts(port: MessagePort, count: number): Promise<string[][]> {
  const got: string[][] = []
  const text = (payload: Payload): string => Buffer.from(payload as Uint8Array).toString()
  return within(
    DEADLINE_MS,
    new Promise<string[][]>((resolve) => {
      port.on('message', (data: Uint8Array | unknown[]) => {
        const payloads = data instanceof Uint8Array ? [data] : unpack(data, 1 << 20)
        if (typeof payloads === 'string') throw new Error(payloads)
        got.push(payloads.map(text))
        if (got.length === count) resolve(got)
      })
    }),
    `${count} posts`,
  )
}

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text))

test('what handling a message sends leaves in one post before any microtask, what follows in a post of its own', async () => {
  const { port1, port2 } = channel()
  const transport = new MessagePortTransport(port1)
  let postsAtFirstMicrotask = -1
  let posted = 0
  const postMessage = port1.postMessage.bind(port1)
  port1.postMessage = (message: unknown, transfer?: never) => {
    posted++
    postMessage(message, transfer)
  }
  transport.start({
    message: () => {
      // Queued before anything is sent: a flush left to a microtask would come after it.
      queueMicrotask(() => (postsAtFirstMicrotask = posted))
      transport.send(bytes('answer 1'))
      transport.send(bytes('answer 2'))
      transport.send(bytes('answer 3'))
      queueMicrotask(() => transport.send(bytes('later')))
    },
    closed: () => {},
    drain: () => {},
  })
  transport.negotiated(new Set([BATCH_FEATURE]))
  const arrived = posts(port2, 2)
  port2.postMessage(bytes('a call'))
  expect(await arrived).toEqual([['answer 1', 'answer 2', 'answer 3'], ['later']])
  expect(postsAtFirstMicrotask).toBe(1)
})

test('outside the handling of a message, what one turn sends leaves together in a microtask', async () => {
  const { port1, port2 } = channel()
  const transport = new MessagePortTransport(port1)
  transport.start({ message: () => {}, closed: () => {}, drain: () => {} })
  transport.negotiated(new Set([BATCH_FEATURE]))
  const arrived = posts(port2, 2)
  transport.send(bytes('first'))
  transport.send(bytes('second'))
  await Promise.resolve()
  transport.send(bytes('next turn'))
  expect(await arrived).toEqual([['first', 'second'], ['next turn']])
})

test('a handling that sends more than a batch holds: the full batch leaves at once, the rest when it ends', async () => {
  const { port1, port2 } = channel()
  const transport = new MessagePortTransport(port1)
  const answers = Array.from({ length: 40 }, (_, i) => `answer ${i}`)
  transport.start({
    message: () => {
      for (const answer of answers) transport.send(bytes(answer))
    },
    closed: () => {},
    drain: () => {},
  })
  transport.negotiated(new Set([BATCH_FEATURE]))
  const arrived = posts(port2, 2)
  port2.postMessage(bytes('a call'))
  expect(await arrived).toEqual([answers.slice(0, 32), answers.slice(32)])
})
