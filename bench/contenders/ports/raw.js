/**
 * The limit over a port: postMessage and the structured clone algorithm, no protocol. The client
 * posts `[id, value]` and matches the reply `[id, value]` by id. Variants:
 * - `plain`: one post per call, and one per reply;
 * - `batched`: the calls (and the replies) of one tick in one post, as `[id, value, id, value, ...]`;
 * - `transfer`: one post per call, the value's ArrayBuffer in the transfer list both ways (bytes only;
 *   the argument is detached on the sender, the reply on the server).
 */
import { portMain } from '../../lib/ports.js'

function senderFor(port, variant) {
  if (variant === 'batched') {
    let batch
    const flush = () => {
      port.postMessage(batch)
      batch = undefined
    }
    return (id, value) => {
      if (batch === undefined) {
        batch = []
        process.nextTick(flush)
      }
      batch.push(id, value)
    }
  }
  if (variant === 'transfer') return (id, value) => port.postMessage([id, value], [value.buffer])
  return (id, value) => port.postMessage([id, value])
}

function receive(port, variant, onReply) {
  if (variant === 'batched') {
    port.on('message', (batch) => {
      for (let i = 0; i < batch.length; i += 2) onReply(batch[i], batch[i + 1])
    })
  } else {
    port.on('message', ([id, value]) => onReply(id, value))
  }
}

async function server({ port, variant, echo }) {
  const send = senderFor(port, variant)
  receive(port, variant, (id, value) => send(id, echo(value)))
}

async function client({ port, variant }) {
  const send = senderFor(port, variant)
  const pending = new Map()
  let nextId = 1
  receive(port, variant, (id, value) => {
    const resolve = pending.get(id)
    pending.delete(id)
    resolve(value)
  })
  return {
    call: (value) =>
      new Promise((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        send(id, value)
      }),
    close: async () => port.close(),
  }
}

portMain({ server, client }, import.meta.filename)
