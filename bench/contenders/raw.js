/**
 * The limit: a raw Unix socket with the same 4-byte length prefix and no protocol at all. The server
 * writes every frame back; the client matches replies to calls in order (one stream, FIFO).
 * Variants: `plain` (one write per frame) and `coalesced` (frames of one tick leave in one writev).
 */
import { createServer, connect } from 'node:net'
import { coalescingFrameWriter, plainFrameWriter, readFrames } from '../lib/framing.js'
import { main } from '../lib/harness.js'

const writerFor = (variant) => (variant === 'coalesced' ? coalescingFrameWriter : plainFrameWriter)

async function server({ path, variant, echo }) {
  const makeWriter = writerFor(variant)
  const sockets = new Set()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    const write = makeWriter(socket)
    readFrames(socket, (payload) => write(echo(payload)))
  })
  await new Promise((resolve) => server.listen(path, resolve))
  return {
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

async function client({ path, variant }) {
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
    resolve(payload)
  })
  return {
    call: (payload) =>
      new Promise((resolve) => {
        waiting.push(resolve)
        write(payload)
      }),
    close: () => new Promise((resolve) => socket.end(resolve)),
  }
}

main({ server, client }, import.meta.filename)
