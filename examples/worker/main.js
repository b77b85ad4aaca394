// A worker_threads worker: `node examples/worker/main.js` after `npm run build`. The main thread and
// the worker (worker.js) talk over the Worker itself with fromMessagePort; payloads are transferred,
// not copied twice. The worker also streams values back (an async generator).
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { fromMessagePort } from 'ipc-channel'

const log = (...args) => console.log('[main]', ...args)

const worker = new Worker(new URL('./worker.js', import.meta.url))
const channel = fromMessagePort(worker, { role: 'server' })
channel.expose('log', (text) => log(`the worker says: ${text}`))

/** @type {import('ipc-channel').Remote<{ fib(n: number): number, primes(count: number): AsyncGenerator<number>, checksum(bytes: Uint8Array): number }>} */
const api = channel.remote()

log(`fib(30) = ${await api.fib(30)}`)
const primes = []
for await (const prime of api.primes(8)) primes.push(prime)
log(`primes, streamed: ${primes.join(' ')}`)
log(`checksum of 1 MiB = ${await api.checksum(new Uint8Array(1024 * 1024).fill(7))}`)

// Closing the channel closes the worker's port: with nothing left to do, the worker ends.
await channel.close()
const [code] = await once(worker, 'exit')
log(`the worker exited with code ${code}`)
