/**
 * The reference over NATS: plain publishes with the bench's own correlation ids, no protocol. Each
 * side subscribes a subject of its own (`<service>.server`, `<service>.client`); the client publishes
 * `[id, payload]` to the server's, the server publishes `[id, result]` back to the client's, and the
 * client matches replies by id. The id is 4 bytes, big-endian; its top bit says that more pieces of
 * the same payload follow: a payload that does not fit the broker's `max_payload` beside its id (the
 * 1 MiB echo, at the default of 1 MiB) goes in pieces, which NATS keeps in order per publisher.
 */
import { connect } from 'nats'
import { main } from '../../lib/harness.js'

const ID_SIZE = 4
const MORE = 0x8000_0000

/** The broker and the service of a `nats://host:port/service` address. */
function parseAddress(address) {
  const url = new URL(address)
  return { servers: url.host, service: url.pathname.slice(1) }
}

/** Publishes `payload` under `id` to `subject`, in as few messages as `max_payload` allows. */
function publisher(connection) {
  const room = connection.info.max_payload - ID_SIZE
  return (subject, id, payload) => {
    let offset = 0
    do {
      const size = Math.min(payload.byteLength - offset, room)
      const message = new Uint8Array(ID_SIZE + size)
      const more = offset + size < payload.byteLength
      new DataView(message.buffer).setUint32(0, more ? (id | MORE) >>> 0 : id)
      message.set(offset === 0 && !more ? payload : payload.subarray(offset, offset + size), ID_SIZE)
      connection.publish(subject, message)
      offset += size
    } while (offset < payload.byteLength)
  }
}

/** Calls `onPayload(id, payload)` for each payload whose pieces have all arrived on `subject`. */
function subscriber(connection, subject, onPayload) {
  const partial = new Map()
  return connection.subscribe(subject, {
    callback: (error, message) => {
      if (error) throw error
      const data = message.data
      const head = new DataView(data.buffer, data.byteOffset, ID_SIZE).getUint32(0)
      const id = head & ~MORE
      const piece = data.subarray(ID_SIZE)
      if (head & MORE) {
        partial.set(id, [...(partial.get(id) ?? []), piece])
        return
      }
      const earlier = partial.get(id)
      if (!earlier) {
        onPayload(id, piece)
        return
      }
      partial.delete(id)
      onPayload(id, Buffer.concat([...earlier, piece]))
    },
  })
}

async function server({ path, echo }) {
  const { servers, service } = parseAddress(path)
  const connection = await connect({ servers })
  const publish = publisher(connection)
  subscriber(connection, `${service}.server`, (id, payload) => publish(`${service}.client`, id, echo(payload)))
  // Subscribed at the broker before the runner starts the client.
  await connection.flush()
  return { close: () => connection.close() }
}

async function client({ path }) {
  const { servers, service } = parseAddress(path)
  const connection = await connect({ servers })
  const publish = publisher(connection)
  const pending = new Map()
  let nextId = 0
  subscriber(connection, `${service}.client`, (id, payload) => {
    const resolve = pending.get(id)
    pending.delete(id)
    resolve(payload)
  })
  await connection.flush()
  return {
    call: (value) =>
      new Promise((resolve) => {
        const id = (nextId = (nextId + 1) & ~MORE)
        pending.set(id, resolve)
        publish(`${service}.server`, id, value)
      }),
    close: () => connection.close(),
  }
}

main({ server, client }, import.meta.filename)
