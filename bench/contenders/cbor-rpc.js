/**
 * A hand-written RPC with cbor-x: `[id, name, args]` out, `[id, result]` back, length-prefixed, writes
 * coalesced per tick. Roughly the least code that has ipc-channel's design (same codec, same framing,
 * same write strategy) and none of its features: a reference for what the design itself costs.
 */
import { createServer, connect } from 'node:net'
import { Decoder, Encoder } from 'cbor-x'
import { coalescingFrameWriter, readFrames } from '../lib/framing.js'
import { main } from '../lib/harness.js'

const CODEC = { useRecords: false }

async function server({ path, echo }) {
  const handlers = new Map([['echo', echo]])
  const sockets = new Set()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    const encoder = new Encoder(CODEC)
    const decoder = new Decoder(CODEC)
    const write = coalescingFrameWriter(socket)
    readFrames(socket, (frame) => {
      const [id, name, args] = decoder.decode(frame)
      let reply
      try {
        reply = [id, handlers.get(name)(...args)]
      } catch (error) {
        reply = [id, null, String(error)]
      }
      write(encoder.encode(reply))
    })
  })
  await new Promise((resolve) => server.listen(path, resolve))
  return {
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

async function client({ path }) {
  const socket = connect(path)
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const encoder = new Encoder(CODEC)
  const decoder = new Decoder(CODEC)
  const write = coalescingFrameWriter(socket)
  const pending = new Map()
  let nextId = 1
  readFrames(socket, (frame) => {
    const [id, result, error] = decoder.decode(frame)
    const call = pending.get(id)
    pending.delete(id)
    if (error !== undefined) call.reject(new Error(error))
    else call.resolve(result)
  })
  return {
    call: (payload) =>
      new Promise((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve, reject })
        write(encoder.encode([id, 'echo', [payload]]))
      }),
    close: () => new Promise((resolve) => socket.end(resolve)),
  }
}

main({ server, client }, import.meta.filename)
