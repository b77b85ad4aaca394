/**
 * The control link between the runner and the processes of one pair: JSON lines over a Unix socket of
 * its own, apart from the channel under test. Every benchmark process connects to it, whoever spawned
 * it (the fork contenders' servers are spawned by their clients), so the runner can sample the
 * server's memory and collect the client's results the same way for every contender.
 */
import { connect, createServer } from 'node:net'
import { readLines } from './framing.js'

/** Child side: connects, says hello, and delivers the runner's messages to `onMessage`. */
export function connectControl(path, role, onMessage) {
  return new Promise((resolve, reject) => {
    const socket = connect(path)
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      socket.on('error', () => process.exit(3))
      // The runner going away means the run is over.
      socket.on('close', () => process.exit(4))
      readLines(socket, (line) => onMessage(JSON.parse(line)))
      const send = (message) => socket.write(JSON.stringify(message) + '\n')
      send({ type: 'hello', role, pid: process.pid })
      resolve({
        send,
        /** Sends a last message and exits once it is written. */
        finish(message, code = 0) {
          socket.removeAllListeners('close')
          socket.end(JSON.stringify(message) + '\n', () => process.exit(code))
        },
      })
    })
  })
}

/**
 * Runner side: listens on `path` and hands each connection to `onPeer(peer)` once its hello arrived:
 * `peer.role`, `peer.pid`, `peer.send(message)`, and `peer.next()`, which resolves with the next message
 * (messages are queued until asked for, so none is lost between the hello and the first `next()`).
 * `close()` stops listening and drops every connection.
 */
export function listenControl(path, onPeer) {
  const sockets = new Set()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let peer
    const queue = []
    const waiters = []
    readLines(socket, (line) => {
      const message = JSON.parse(line)
      if (peer) {
        const waiter = waiters.shift()
        if (waiter) waiter(message)
        else queue.push(message)
        return
      }
      peer = {
        role: message.role,
        pid: message.pid,
        send: (reply) => {
          if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n')
        },
        next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))),
      }
      onPeer(peer)
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () =>
      resolve({
        close: () => {
          for (const socket of sockets) socket.destroy()
          return new Promise((done) => server.close(done))
        },
      }),
    )
  })
}
