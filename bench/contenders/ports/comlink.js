/**
 * comlink over the port through its Node adapter (`nodeEndpoint`), as its README shows for
 * worker_threads: `expose({ echo })` in the Worker, `wrap()` in the main thread. Variants: `plain`
 * (structured clone), and `transfer`: the argument and the result wrapped in `Comlink.transfer(value,
 * [value.buffer])` (bytes only; the argument is detached on the sender).
 */
import * as Comlink from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { portMain } from '../../lib/ports.js'

const transferred = (bytes) => Comlink.transfer(bytes, [bytes.buffer])

async function server({ port, variant, echo }) {
  Comlink.expose({ echo: variant === 'transfer' ? (bytes) => transferred(echo(bytes)) : echo }, nodeEndpoint(port))
}

async function client({ port, variant }) {
  const remote = Comlink.wrap(nodeEndpoint(port))
  return {
    call: variant === 'transfer' ? (bytes) => remote.echo(transferred(bytes)) : (value) => remote.echo(value),
    close: async () => {
      remote[Comlink.releaseProxy]()
      port.close()
    },
  }
}

portMain({ server, client }, import.meta.filename)
