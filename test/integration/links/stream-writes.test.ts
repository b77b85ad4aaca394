/**
 * When a byte-stream transport writes: the answers of handlers that return at once, to the calls of
 * one chunk, leave in one write as soon as the chunk is handled, in order with anything the handlers
 * sent meanwhile; answers that come later (a handler's promise) leave in writes of their own, after.
 */
import { PassThrough, Writable } from 'node:stream'
import { expect, onTestFinished, test } from 'vitest'
import { fromStream } from '../../../dist/index.js'
import { patience } from '../../helpers/time.js'
import { FrameReader, MessageType, helloFrame, messageFrame } from '../../helpers/wire.js'
import { within } from '../support.js'

test('the answers to the calls of one chunk leave in one write when the chunk is handled, not a tick later', async () => {
  const readable = new PassThrough()
  const reader = new FrameReader()
  const writes: unknown[][] = []
  let wrote: () => void = () => {}
  const writable = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(reader.push(chunk))
      wrote()
      done()
    },
  })
  const channel = fromStream({ readable, writable }, { heartbeat: false, role: 'server' })
  channel.on('error', () => {})
  onTestFinished(() => channel.destroy())
  channel.expose('add', (a: number, b: number) => a + b)
  channel.expose('tell', (text: string) => {
    channel.notify('told', text)
    return text.length
  })
  let release: () => void = () => {}
  channel.expose('later', () => new Promise<string>((resolve) => (release = () => resolve('done'))))
  readable.write(helloFrame())
  await within(patience(5000), channel.ready(), 'the handshake')
  // The server's hello leaves on a tick of its own; past it, only what the calls set off is written.
  await new Promise((resolve) => setImmediate(resolve))
  writes.length = 0

  // The transport reads 'data' events: one emitted here is handled before emit() returns.
  readable.emit(
    'data',
    Buffer.concat([
      messageFrame([MessageType.Call, 1, 'add', [1, 2]]),
      messageFrame([MessageType.Call, 2, 'tell', ['hi']]),
      messageFrame([MessageType.Call, 3, 'later', []]),
      messageFrame([MessageType.Call, 4, 'add', [3, 4]]),
    ]),
  )
  expect(writes).toEqual([
    [
      [MessageType.Result, 1, 3],
      [MessageType.Notify, 'told', ['hi']],
      [MessageType.Result, 2, 2],
      [MessageType.Result, 4, 7],
    ],
  ])

  const last = new Promise<void>((resolve) => (wrote = resolve))
  release()
  await within(patience(5000), last, 'the later answer')
  expect(writes.slice(1)).toEqual([[[MessageType.Result, 3, 'done']]])
})
