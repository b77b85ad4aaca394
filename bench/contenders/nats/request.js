/**
 * nats.js request/reply: the server subscribes the service's subject and answers each message with
 * `msg.respond(result)`; the client calls `connection.request(subject, value)`, which publishes with a
 * reply subject under the connection's shared inbox and resolves with the first answer.
 */
import { connect } from 'nats'
import { main } from '../../lib/harness.js'

/** Long enough never to fire: a lost reply should fail the run, not be timed. */
const TIMEOUT_MS = 60_000

/** The broker and the service of a `nats://host:port/service` address. */
function parseAddress(address) {
  const url = new URL(address)
  return { servers: url.host, service: url.pathname.slice(1) }
}

async function server({ path, echo }) {
  const { servers, service } = parseAddress(path)
  const connection = await connect({ servers })
  connection.subscribe(service, {
    callback: (error, message) => {
      if (error) throw error
      message.respond(echo(message.data))
    },
  })
  await connection.flush()
  return { close: () => connection.close() }
}

async function client({ path }) {
  const { servers, service } = parseAddress(path)
  const connection = await connect({ servers })
  return {
    call: (value) => connection.request(service, value, { timeout: TIMEOUT_MS }).then((message) => message.data),
    close: () => connection.close(),
  }
}

main({ server, client }, import.meta.filename)
