/**
 * Small payloads posted alone from buffers kept per size (src/transports/port-batch.ts, postedCopy):
 * only on the platform's own MessagePort, which clones before postMessage returns; every payload
 * arrives as sent, a wrapper that keeps or transfers what it is given gets buffers of its own, and a
 * kept buffer detached behind our back is made again.
 */
import type { MessagePort } from 'node:worker_threads'
import { expect, test } from 'vitest'
import { messageChannel as channel } from '../helpers/message-channel.js'
import { within } from '../helpers/processes.js'
import { KEPT_MAX, keptFor, postedCopy } from '../../src/transports/port-batch.js'
import { MessagePortTransport, type MessagePortLike } from '../../src/transports/message-port.js'

const DEADLINE_MS = 5000
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
/** 50 different payloads of one size. */
const payloads = (size: number): Uint8Array[] => Array.from({ length: 50 }, (_, i) => Uint8Array.from({ length: size }, (_, j) => (i * 7 + j) & 0xff))

function receive(port: MessagePort, count: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = []
  return within(
    DEADLINE_MS,
    new Promise<Uint8Array[]>((resolve) => {
      port.on('message', (data: Uint8Array) => {
        got.push(data)
        if (got.length === count) resolve(got)
      })
    }),
    `${count} messages`,
  )
}

test('a worker_threads port clones what it is posted: payloads of one size posted in one turn arrive each as sent', async () => {
  const { port1, port2 } = channel()
  const sent = payloads(40)
  const arrived = receive(port2, sent.length)
  for (const bytes of sent) port1.postMessage(postedCopy(bytes))
  const got = await arrived
  expect(got.map(hex)).toEqual(sent.map(hex))
  expect(got.every((bytes) => bytes.buffer.byteLength === 40)).toBe(true)
})

test('a native port: payloads of one size sent in one turn each arrive as sent, and the kept buffer is cleared', async () => {
  const { port1, port2 } = channel()
  const transport = new MessagePortTransport(port1)
  const sent = payloads(40)
  const arrived = receive(port2, sent.length)
  for (const bytes of sent) transport.send(bytes)
  expect((await arrived).map(hex)).toEqual(sent.map(hex))
  // Nothing of the last message stays in the kept buffer.
  const kept = keptFor(40)
  expect(kept?.byteLength).toBe(40)
  expect(kept?.every((byte) => byte === 0)).toBe(true)
})

test('a wrapper that keeps what it is posted gets a buffer of its own each time', () => {
  const { port1 } = channel()
  const kept: unknown[] = []
  const wrapper: MessagePortLike = {
    postMessage: (message: unknown) => kept.push(message),
    on: (event: string, listener: (value: unknown) => void) => port1.on(event, listener),
  }
  const transport = new MessagePortTransport(wrapper)
  const sent = payloads(KEPT_MAX)
  for (const bytes of sent) transport.send(bytes)
  expect((kept as Uint8Array[]).map(hex)).toEqual(sent.map(hex))
})

test('a kept buffer that was detached is made again, and a native port goes on posting', async () => {
  const first = postedCopy(Uint8Array.of(1, 2, 3, 4, 5))
  structuredClone(first.buffer, { transfer: [first.buffer] })
  expect(first.byteLength).toBe(0)
  const { port1, port2 } = channel()
  const arrived = receive(port2, 1)
  new MessagePortTransport(port1).send(Uint8Array.of(9, 8, 7, 6, 5))
  expect((await arrived).map(hex)).toEqual(['0908070605'])
})
