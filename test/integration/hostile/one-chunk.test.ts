/**
 * A stream that hands over many frames in one chunk (Wine's named pipes give a reader everything the
 * writer wrote, megabytes at once; any Readable may): when the outbox reaches its budget, the
 * transport's pause stops delivery in the middle of the chunk. The rest is held as bytes, not
 * answered, and is delivered in order once the peer reads again.
 */
import { PassThrough, Writable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { expect, onTestFinished, test } from 'vitest'
import { fromStream } from '../../../dist/index.js'
import { patience } from '../../helpers/time.js'
import { FrameReader, MessageType, encode, frame, helloFrame } from '../../helpers/wire.js'
import { within } from '../links/scenarios.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const MiB = 1024 * 1024

function heap(): number {
  gc()
  gc()
  const { heapUsed, external } = process.memoryUsage()
  return heapUsed + external
}

test('a ping flood in one chunk, to a side whose writes are stuck, is held at the budget and answered in full later', async () => {
  const budget = MiB
  const count = 500_000
  const readable = new PassThrough()
  // The peer's reading end: it takes writes while `flowing`, and otherwise holds their callbacks, as a
  // socket whose peer stopped reading does.
  let flowing = true
  const stuck: (() => void)[] = []
  const reader = new FrameReader()
  let pongs = 0
  let allPongs: () => void = () => {}
  const answered = new Promise<void>((resolve) => (allPongs = resolve))
  const writable = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      for (const message of reader.push(chunk)) {
        if ((message as unknown[])[0] === MessageType.Pong && ++pongs === count) allPongs()
      }
      if (flowing) done()
      else stuck.push(done)
    },
  })
  const channel = fromStream({ readable, writable }, { maxBufferedBytes: budget, heartbeat: false, role: 'server' })
  channel.on('error', () => {})
  onTestFinished(() => channel.destroy())
  readable.write(helloFrame())
  await within(patience(5000), channel.ready(), 'the handshake')

  flowing = false
  const before = heap()
  // 500,000 pings, 3.5 MB, in one chunk: 500,000 pongs, about 80 MB, if nothing held them back.
  readable.write(Buffer.concat(Array<Buffer>(count).fill(frame(encode([MessageType.Ping, 1])))))
  // Everything the chunk can set off happens in this turn and the next (the outbox flushes on the tick).
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  const grown = heap() - before
  // The chunk itself, and the pongs the budget allows (about 75 MB when the pause let the rest of
  // the chunk through).
  expect(grown).toBeLessThan(3.5 * MiB + 4 * budget)

  // The peer reads again: every ping is answered, none lost.
  flowing = true
  for (const done of stuck.splice(0)) done()
  await within(patience(20_000), answered, 'every pong')
  expect(pongs).toBe(count)
})
