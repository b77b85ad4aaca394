/**
 * The limit: a raw Unix socket with the same 4-byte length prefix and no protocol at all. The server
 * writes every frame back; the client matches replies to calls in order (one stream, FIFO).
 * Variants: `plain` (one write per frame) and `coalesced` (frames of one tick leave in one writev).
 * A socket carries bytes only: the structured record is encoded with cbor-x, the fastest codec at hand
 * that has a Date (bench/README.md), and the server decodes it and encodes it again, as an
 * application would. The byte scenarios run the same code as without the record: the reference must
 * not move.
 */
import { createServer, connect } from 'node:net'
import { batchingFrameWriter, coalescingFrameWriter, plainFrameWriter, readFrames } from '../lib/framing.js'
import { main } from '../lib/harness.js'

const writerFor = (variant) => (variant === 'coalesced' ? coalescingFrameWriter : variant === 'batched' ? batchingFrameWriter : plainFrameWriter)

/**
 * How the record becomes a frame's payload and back, per process; none for bytes. cbor-x is loaded only
 * for the record: merely loaded, it took the byte echo server from 16,100 to 19,600 instructions per
 * sequential call (bench/instructions.js; V8 compiled more inside the counted stretch).
 */
async function codecFor(scenario) {
  if (scenario !== 'structured') return undefined
  const { Decoder, Encoder } = await import('cbor-x')
  const encoder = new Encoder({ useRecords: false })
  const decoder = new Decoder({ useRecords: false })
  return { encode: (value) => encoder.encode(value), decode: (payload) => decoder.decode(payload) }
}

async function server({ path, variant, echo, params }) {
  const makeWriter = writerFor(variant)
  const codec = await codecFor(params.scenario)
  const sockets = new Set()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    const write = makeWriter(socket)
    readFrames(socket, codec ? (payload) => write(codec.encode(echo(codec.decode(payload)))) : (payload) => write(echo(payload)))
  })
  await new Promise((resolve) => server.listen(path, resolve))
  return {
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

async function client({ path, variant, params }) {
  const codec = await codecFor(params.scenario)
  const socket = connect(path)
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const write = writerFor(variant)(socket)
  const waiting = []
  let head = 0
  readFrames(socket, (payload) => {
    const resolve = waiting[head]
    waiting[head++] = undefined
    if (head === waiting.length) {
      waiting.length = 0
      head = 0
    }
    resolve(codec ? codec.decode(payload) : payload)
  })
  return {
    call: (value) =>
      new Promise((resolve) => {
        waiting.push(resolve)
        write(codec ? codec.encode(value) : value)
      }),
    close: () => new Promise((resolve) => socket.end(resolve)),
  }
}

main({ server, client }, import.meta.filename)
