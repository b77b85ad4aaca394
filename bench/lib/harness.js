/**
 * Entry point shared by the contender scripts: `node bench/contenders/<name>.js <server|client> [variant]`
 * (a port contender's server runs in a Worker of its client: bench/lib/ports.js).
 * The runner passes everything else in the BENCH_PARAMS environment variable (JSON): the control
 * socket, the socket under test, the scenario and its parameters.
 *
 * A contender supplies two functions:
 * - `server({ path, variant, echo, params })`: starts serving `echo` and resolves to `{ close() }`;
 * - `client({ path, variant, params, script })`: connects and resolves to `{ call(value), close() }`,
 *   where `call` sends one echo call and resolves with what it returned. The value is a Uint8Array,
 *   or in the `structured` scenario a plain object (bench/lib/scenarios.js).
 */
import { connectControl } from './control.js'
import { scenarios } from './scenarios.js'

/** The function every server exposes: returns its argument. */
export const echo = (value) => value

function sample() {
  // Servers run with --expose-gc: collect twice so that what is left is what is retained.
  if (typeof globalThis.gc === 'function') {
    globalThis.gc()
    globalThis.gc()
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
  return { rss, heapUsed, external, arrayBuffers }
}

export async function main(contender, script) {
  const role = process.argv[2]
  const variant = process.argv[3]
  const params = JSON.parse(process.env.BENCH_PARAMS ?? 'null')
  if (!params || (role !== 'server' && role !== 'client')) {
    console.error(`usage: BENCH_PARAMS=... node ${script} <server|client> [variant] (run through bench/run.js)`)
    process.exit(2)
  }
  try {
    if (role === 'server') await runServer(contender, variant, params)
    else await runClient(contender, variant, params, script)
  } catch (error) {
    console.error(`[${role} ${script} ${variant ?? ''}]`, error)
    process.exit(1)
  }
}

async function runServer(contender, variant, params) {
  let handle
  const control = await connectControl(params.control, 'server', async (message) => {
    if (message.type === 'sample') {
      control.send({ type: 'sample', label: message.label, ...sample() })
    } else if (message.type === 'exit') {
      await Promise.race([handle?.close(), new Promise((resolve) => setTimeout(resolve, 2000))])
      control.finish({ type: 'bye' })
    }
  })
  handle = await contender.server({ path: params.socket, variant, echo, params })
  control.send({ type: 'ready' })
}

async function runClient(contender, variant, params, script) {
  // Connected before saying hello: the runner pins the process's threads when the hello arrives, and a
  // port contender's server is one of them (a Worker).
  const connection = await contender.client({ path: params.socket, variant, params, script })
  const waiters = []
  const control = await connectControl(params.control, 'client', (message) => {
    if (message.type === 'continue' || message.type === 'probe') waiters.shift()?.(message)
  })
  const ask = (request) =>
    new Promise((resolve) => {
      waiters.push(resolve)
      control.send(request)
    })
  let noServerFaults = false
  const runner = {
    /** Has the runner sample the server's memory (after a full GC); resolves once it has. */
    mark: (label) => ask({ type: 'mark', label }),
    /**
     * The server process's minor page faults so far, read by the runner from /proc; undefined
     * elsewhere or for a port pair. Asked once only when undefined: the round trip to the runner
     * between echoes would leave both threads of a port pair idle for a while before each, which is
     * not what an echo measures (a transfer takes a tenth of a millisecond).
     */
    serverFaults: async () => {
      if (noServerFaults) return undefined
      const { serverFaults } = await ask({ type: 'probe' })
      noServerFaults = serverFaults === undefined
      return serverFaults
    },
  }
  const run = scenarios[params.scenario]
  const result = await run(connection.call, params.options, runner)
  await Promise.race([connection.close(), new Promise((resolve) => setTimeout(resolve, 2000))])
  control.finish({ type: 'result', result })
}
