/**
 * vscode-jsonrpc over the Unix socket with its StreamMessageReader/Writer (Content-Length headers,
 * JSON bodies). JSON has no bytes, so a byte argument and its result travel as base64 strings, encoded
 * and decoded on each side as an application would; the structured record's Date travels as a string.
 */
import { createServer, connect } from 'node:net'
import { StreamMessageReader, StreamMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node'
import { jsonArgument, jsonCall } from '../lib/framing.js'
import { main } from '../lib/harness.js'

async function server({ path, echo, params }) {
  const { encode, decode } = jsonArgument(params.scenario)
  const connections = new Set()
  const server = createServer((socket) => {
    socket.on('error', () => {})
    const connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket))
    connections.add(connection)
    connection.onClose(() => connections.delete(connection))
    connection.onRequest('echo', (value) => encode(echo(decode(value))))
    connection.listen()
  })
  await new Promise((resolve) => server.listen(path, resolve))
  return {
    close: () => {
      for (const connection of connections) connection.dispose()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

async function client({ path, params }) {
  const socket = connect(path)
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.on('error', () => {})
  const connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket))
  connection.listen()
  return {
    call: jsonCall(params.scenario, (value) => connection.sendRequest('echo', value)),
    close: async () => {
      connection.dispose()
      socket.end()
    },
  }
}

main({ server, client }, import.meta.filename)
