/**
 * birpc over the port, as its README shows for worker_threads: `post` is postMessage, and without
 * `serialize`/`deserialize` its messages travel by structured clone (bytes as bytes, a Date as a
 * Date). The per-call timeout timer is off (`timeout: -1`), as for the socket variants.
 */
import { createBirpc } from 'birpc'
import { portMain } from '../../lib/ports.js'

const birpcOver = (port, functions) =>
  createBirpc(functions, {
    post: (data) => port.postMessage(data),
    on: (fn) => port.on('message', fn),
    timeout: -1,
  })

async function server({ port, echo }) {
  birpcOver(port, { echo })
}

async function client({ port }) {
  const rpc = birpcOver(port, {})
  return {
    call: (value) => rpc.echo(value),
    close: async () => {
      rpc.$close()
      port.close()
    },
  }
}

portMain({ server, client }, import.meta.filename)
