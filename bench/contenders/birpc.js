/**
 * birpc over the Unix socket. Variants:
 * - `json`: JSON lines (one message per line); bytes travel as base64 strings, as with any JSON peer,
 *   and the structured record's Date as a string;
 * - `cbor`: cbor-x messages in 4-byte length-prefixed frames (one write per frame); bytes as bytes.
 * birpc's per-call timeout timer is turned off (`timeout: -1`), as ipc-channel has none by default.
 */
import { createServer, connect } from 'node:net'
import { createBirpc } from 'birpc'
import { Decoder, Encoder } from 'cbor-x'
import { jsonArgument, jsonCall, plainFrameWriter, readFrames, readLines } from '../lib/framing.js'
import { main } from '../lib/harness.js'

function birpcOver(socket, variant, functions) {
  if (variant === 'json') {
    return createBirpc(functions, {
      post: (data) => socket.write(data + '\n'),
      on: (fn) => readLines(socket, fn),
      serialize: JSON.stringify,
      deserialize: JSON.parse,
      timeout: -1,
    })
  }
  const encoder = new Encoder({ useRecords: false })
  const decoder = new Decoder({ useRecords: false })
  const write = plainFrameWriter(socket)
  return createBirpc(functions, {
    post: (data) => write(data),
    on: (fn) => readFrames(socket, fn),
    serialize: (message) => encoder.encode(message),
    deserialize: (frame) => decoder.decode(frame),
    timeout: -1,
  })
}

async function server({ path, variant, echo, params }) {
  const { encode, decode } = jsonArgument(params.scenario)
  const functions = variant === 'json' ? { echo: (value) => encode(echo(decode(value))) } : { echo }
  const sockets = new Set()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    birpcOver(socket, variant, functions)
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
  const socket = connect(path)
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.on('error', () => {})
  const rpc = birpcOver(socket, variant, {})
  return {
    call: variant === 'json' ? jsonCall(params.scenario, (value) => rpc.echo(value)) : (value) => rpc.echo(value),
    close: async () => {
      rpc.$close()
      socket.end()
    },
  }
}

main({ server, client }, import.meta.filename)
