// The demo's client process, started by examples/demo/server.js with the secret in IPC_DEMO_SECRET.
import { Client, RemoteError, ipcPath } from 'ipc-channel'

const log = (...args) => console.log('[client]', ...args)

const secret = process.env.IPC_DEMO_SECRET
if (!secret) throw new Error('run examples/demo/server.js, which starts this client with its secret')

log(`started as pid ${process.pid}; connecting`)
// new Client() starts connecting at once. Exposing before it is connected guarantees that the server's
// first calls find these functions.
const client = new Client(ipcPath('demo'), { secret })

let welcomed
const welcome = new Promise((resolve) => (welcomed = resolve))
client.expose({
  whoAreYou: () => ({ name: 'demo-client', pid: process.pid }),
  welcome(text) {
    log(`the server says ${JSON.stringify(text)}`)
    welcomed()
  },
})
await client.ready()
await welcome

// A plain call: name and arguments.
log(`rpc('add', 1, 2) -> ${await client.rpc('add', 1, 2)}`)

// A typed proxy. In TypeScript: client.remote<ServerApi>(), and api.stats() is InProgress<Stats>.
/**
 * @typedef {object} ServerApi
 * @property {(a: number, b: number) => number} add
 * @property {(values: number[]) => { min: number, max: number, mean: number }} stats
 * @property {(text: string) => number} parsePort
 * @property {(from: number) => AsyncGenerator<number>} countdown
 */
/** @type {import('ipc-channel').Remote<ServerApi>} */
const api = client.remote()
const stats = await api.stats([3, 1, 4, 1, 5])
log(`api.stats([3, 1, 4, 1, 5]) -> ${JSON.stringify(stats)}`)

// A remote exception is rethrown here, as its own class, with its code and its cause.
try {
  await api.parsePort('eighty')
} catch (error) {
  log(`api.parsePort('eighty') threw ${error.name}: ${error.message}`)
  log(`  instanceof TypeError: ${error instanceof TypeError}, instanceof RemoteError: ${error instanceof RemoteError}`)
  log(`  code: ${error.code}`)
  log(`  cause: ${error.cause.name}: ${error.cause.message}`)
}

// A notification: no reply, nothing to await.
client.notify('log', 'about to stream')

// A streaming call: the server's async generator, consumed item by item.
for await (const n of api.countdown(3)) log(`countdown: ${n}`)
log('countdown finished; closing')

await client.close()
// Nothing else is open: the process exits with code 0 on its own.
