/**
 * Runs one scenario of one contender: a fresh server process and a fresh client process, a control
 * socket for the runner, and a socket for the channel under test, all in `dir` (over NATS: a service
 * of its own on the run's broker instead of the socket); or, for a port contender, a fresh client
 * process that starts its server in a Worker.
 */
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { listenControl } from './control.js'

const contendersDir = fileURLToPath(new URL('../contenders/', import.meta.url))

/**
 * The contenders, in table order. `path`: over a Unix socket between two processes, or over a
 * worker_threads MessageChannel between a process and a Worker of its own (bench/lib/ports.js).
 * `kind`: a limit (the path's first limit is the reference of its ratios), a reference
 * implementation, the subject, or a peer library. `spawnsServer`: the client starts the server itself
 * (fork IPC). `scenarios`: the only scenarios it runs, where not all of its path's.
 */
const socketContenders = [
  { name: 'raw-socket', kind: 'limit', script: 'raw.js', variant: 'plain', label: 'raw socket, one write per frame' },
  { name: 'raw-coalesced', kind: 'limit', script: 'raw.js', variant: 'coalesced', label: 'raw socket, writes coalesced per tick' },
  { name: 'raw-batched', kind: 'limit', script: 'raw.js', variant: 'batched', label: 'raw socket, frames of a tick in one buffer' },
  { name: 'cbor-rpc', kind: 'reference', script: 'cbor-rpc.js', label: 'hand-written RPC, cbor-x, coalesced' },
  { name: 'ipc-channel', kind: 'subject', script: 'ipc-channel.js', label: 'ipc-channel (dist/)' },
  { name: 'vscode-jsonrpc', kind: 'peer', script: 'vscode-jsonrpc.js', label: 'vscode-jsonrpc, stream reader/writer' },
  { name: 'birpc-json', kind: 'peer', script: 'birpc.js', variant: 'json', label: 'birpc, JSON lines' },
  { name: 'birpc-cbor', kind: 'peer', script: 'birpc.js', variant: 'cbor', label: 'birpc, cbor-x frames' },
  { name: 'fork-json', kind: 'peer', script: 'fork.js', variant: 'json', spawnsServer: true, label: "fork IPC, serialization 'json'" },
  { name: 'fork-advanced', kind: 'peer', script: 'fork.js', variant: 'advanced', spawnsServer: true, label: "fork IPC, serialization 'advanced'" },
]

const portContenders = [
  { name: 'port-raw', kind: 'limit', script: 'ports/raw.js', variant: 'plain', label: 'raw postMessage of [id, value], one post per call' },
  {
    name: 'port-raw-batched',
    kind: 'limit',
    script: 'ports/raw.js',
    variant: 'batched',
    label: 'raw postMessage, the calls of one tick in one post',
  },
  {
    name: 'port-raw-transfer',
    kind: 'limit',
    script: 'ports/raw.js',
    variant: 'transfer',
    scenarios: ['bandwidth'],
    label: 'raw postMessage, the buffer transferred both ways',
  },
  { name: 'port-ipc-channel', kind: 'subject', script: 'ports/ipc-channel.js', variant: 'plain', label: 'ipc-channel fromMessagePort (dist/)' },
  {
    name: 'port-ipc-channel-transfer',
    kind: 'subject',
    script: 'ports/ipc-channel.js',
    variant: 'transfer',
    scenarios: ['bandwidth'],
    label: 'ipc-channel fromMessagePort, transfer() both ways',
    // Runs once dist/ exports transfer(); until then the runner names it as left out.
    available: async () => typeof (await import('../../dist/index.js').catch(() => ({}))).transfer === 'function',
    unavailable: 'dist/ exports no transfer()',
  },
  { name: 'port-birpc', kind: 'peer', script: 'ports/birpc.js', label: 'birpc 4.2, structured clone' },
  { name: 'port-comlink', kind: 'peer', script: 'ports/comlink.js', variant: 'plain', label: 'comlink 4.4 (nodeEndpoint)' },
  {
    name: 'port-comlink-transfer',
    kind: 'peer',
    script: 'ports/comlink.js',
    variant: 'transfer',
    scenarios: ['bandwidth'],
    label: 'comlink 4.4, Comlink.transfer() both ways',
  },
]

/**
 * Over NATS: two processes, each with its own connection to the one nats-server of the run
 * (bench/lib/nats-broker.js), which relays every message. The runner leaves them out when it has no
 * nats-server or the `nats` client is not installed.
 */
const natsContenders = [
  {
    name: 'nats-plain',
    kind: 'limit',
    script: 'nats/plain.js',
    label: 'plain NATS publishes of [id, payload], each side on a subject of its own, replies matched by id',
  },
  { name: 'nats-ipc-channel', kind: 'subject', script: 'ipc-channel.js', label: 'ipc-channel over nats://host:port/service (dist/)' },
  { name: 'nats-request', kind: 'peer', script: 'nats/request.js', label: 'nats.js request() / subscribe + respond' },
]

export const contenders = [
  ...socketContenders.map((c) => ({ path: 'socket', ...c })),
  ...portContenders.map((c) => ({ path: 'port', ...c })),
  ...natsContenders.map((c) => ({ path: 'nats', ...c })),
]

/**
 * The scenarios of each path. Memory is the server process's: a port's server shares the client's.
 * Over NATS: one call at a time, 64 in flight, and an echo of 1 MiB (the broker's default
 * max_payload) instead of 16 MiB.
 */
export const pathScenarios = {
  socket: ['latency', 'throughput', 'structured', 'bandwidth', 'memory'],
  port: ['latency', 'throughput', 'structured', 'bandwidth'],
  nats: ['latency', 'throughput', 'bandwidth'],
}

/** The scenarios `contender` runs. */
export const scenariosOf = (contender) => contender.scenarios ?? pathScenarios[contender.path]

let pairCount = 0

/** Resolves when `child` has exited (at once if it already has). */
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', resolve))
}

/** Kills what is left of a pair's processes, closes its control socket and removes both socket files. */
export async function endPair(children, control, controlPath, socketPath) {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await Promise.all(children.map(exited))
  await control.close()
  rmSync(controlPath, { force: true })
  rmSync(socketPath, { force: true })
}

/** The minor page faults of process `pid` so far, read from /proc without disturbing it (Linux). */
function minorFaults(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // minflt is the 10th field; the 2nd, the command in parentheses, may hold spaces.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7])
  } catch {
    return undefined
  }
}

function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * A port contender has no server process: its client runs the server in a Worker, so both are
 * pinned together, as the client.
 *
 * @param contender an entry of `contenders`
 * @param scenario  'latency' | 'throughput' | 'structured' | 'bandwidth' | 'memory'
 * @param options   the scenario's parameters (see scenarios.js)
 * @param settings  { dir, timeoutMs, serverNodeArgs, clientNodeArgs, pin: { server, client } CPU numbers or undefined,
 *                  broker: the run's nats-server, for a NATS contender (bench/lib/nats-broker.js) }
 * @returns { result, samples } where samples are the server memory samples taken on the client's marks
 */
export async function runPair(contender, scenario, options, settings) {
  const id = ++pairCount
  const serverProcess = contender.path !== 'port'
  const controlPath = join(settings.dir, `ctl-${id}.sock`)
  const socketPath = join(settings.dir, `ch-${id}.sock`)
  const script = join(contendersDir, contender.script)
  const serverNodeArgs = ['--expose-gc', ...(settings.serverNodeArgs ?? [])]
  // Over NATS the channel's address is a service of its own on the run's broker.
  const address = contender.path === 'nats' ? settings.broker.url(`bench.p${id}`) : socketPath
  const params = { control: controlPath, socket: address, scenario, options, serverNodeArgs }
  const env = { ...process.env, BENCH_PARAMS: JSON.stringify(params) }
  const args = (role) => [script, role, ...(contender.variant ? [contender.variant] : [])]

  let resolveServer
  let resolveClient
  const serverPeer = new Promise((resolve) => (resolveServer = resolve))
  const clientPeer = new Promise((resolve) => (resolveClient = resolve))
  const control = await listenControl(controlPath, (peer) => {
    const cpu = settings.pin?.[peer.role]
    // Every thread of the process (V8 and libuv helpers too), as soon as it says hello.
    if (cpu !== undefined) {
      try {
        execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(peer.pid)], { stdio: 'ignore' })
      } catch {
        // The process is gone already; its exit is reported on its own.
      }
    }
    if (peer.role === 'server') resolveServer(peer)
    else resolveClient(peer)
  })
  const children = []
  const spawnRole = (role, nodeArgs) => {
    const child = spawn(process.execPath, [...nodeArgs, ...args(role)], { env, stdio: ['ignore', 'inherit', 'inherit'] })
    children.push(child)
    return child
  }

  const nextOfType = async (peer, type) => {
    for (;;) {
      const message = await peer.next()
      if (message.type === type) return message
    }
  }

  try {
    return await withTimeout(
      (async () => {
        if (serverProcess && !contender.spawnsServer) {
          const server = spawnRole('server', serverNodeArgs)
          const failed = exited(server).then(() => Promise.reject(new Error(`server exited with ${server.exitCode ?? server.signalCode}`)))
          failed.catch(() => {})
          await Promise.race([serverPeer.then((peer) => nextOfType(peer, 'ready')), failed])
        }
        const client = spawnRole('client', settings.clientNodeArgs ?? [])
        // A client that exits without a result is a failure; its last message may still be in flight.
        const clientFailed = exited(client).then(
          () => new Promise((_, reject) => setTimeout(() => reject(new Error(`client exited with ${client.exitCode ?? client.signalCode}`)), 200)),
        )
        clientFailed.catch(() => {})
        const conversation = async () => {
          const peer = await clientPeer
          const samples = {}
          for (;;) {
            const message = await peer.next()
            if (message.type === 'probe') {
              const server = serverProcess ? await serverPeer : undefined
              peer.send({ type: 'probe', serverFaults: server && minorFaults(server.pid) })
            } else if (message.type === 'mark' && !serverProcess) {
              peer.send({ type: 'continue' })
            } else if (message.type === 'mark') {
              const server = await serverPeer
              server.send({ type: 'sample', label: message.label })
              samples[message.label] = await nextOfType(server, 'sample')
              peer.send({ type: 'continue' })
            } else if (message.type === 'result') {
              return { result: message.result, samples }
            }
          }
        }
        const outcome = await Promise.race([conversation(), clientFailed])
        // Let both sides end on their own, so that --cpu-prof can write its profile.
        if (serverProcess) {
          const server = await Promise.race([serverPeer, new Promise((resolve) => setTimeout(resolve, 1000))])
          server?.send({ type: 'exit' })
        }
        await withTimeout(Promise.all(children.map(exited)), 10_000, 'exit')
        return outcome
      })(),
      settings.timeoutMs,
      `${contender.name} ${scenario}`,
    )
  } finally {
    await endPair(children, control, controlPath, socketPath)
  }
}
