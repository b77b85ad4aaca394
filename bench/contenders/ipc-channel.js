/** ipc-channel itself, from dist/ (run `npm run build` first; `npm run bench` does). */
import { connect, listen } from '../../dist/index.js'
import { main } from '../lib/harness.js'

async function server({ path, echo }) {
  const server = await listen(path)
  server.expose('echo', echo)
  return { close: () => server.close() }
}

async function client({ path }) {
  const client = await connect(path)
  return {
    call: (payload) => client.rpc('echo', payload),
    close: () => client.close(),
  }
}

main({ server, client }, import.meta.filename)
