/**
 * Entry point of the port contenders (bench/contenders/ports/): `portMain(contender, import.meta.filename)`.
 *
 * The runner spawns only the client process, as for the socket contenders (bench/lib/harness.js). It
 * opens a worker_threads MessageChannel, starts a Worker on the same script with one end, and waits
 * until the Worker serves on it; the channel under test is that pair of ports, between the main
 * thread and the Worker. A fresh process and Worker per scenario and run, as with sockets.
 *
 * A port contender supplies:
 * - `server({ port, variant, echo, params })`, run in the Worker: starts serving `echo` on `port`;
 * - `client({ port, variant, params })`, run in the main thread: resolves to `{ call(value), close() }`.
 */
import { MessageChannel, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { echo, main } from './harness.js'

export function portMain(contender, script) {
  if (isMainThread) main({ client: (options) => startPair(contender, script, options) }, script)
  else serve(contender)
}

async function startPair(contender, script, { variant, params }) {
  const { port1, port2 } = new MessageChannel()
  const worker = new Worker(script, { workerData: { variant, params, port: port2 }, transferList: [port2] })
  await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the server worker exited with ${code}`)))
  })
  worker.removeAllListeners()
  // A server that fails later fails the run: the process exits without a result, which the runner reports.
  worker.on('error', (error) => {
    console.error('[server worker]', error)
    process.exit(1)
  })
  const connection = await contender.client({ port: port1, variant, params })
  return {
    call: connection.call,
    close: async () => {
      await connection.close()
      await worker.terminate()
    },
  }
}

async function serve(contender) {
  const { variant, params, port } = workerData
  await contender.server({ port, variant, echo, params })
  parentPort.postMessage('ready')
}
