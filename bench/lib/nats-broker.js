/**
 * The nats-server of the NATS scenarios: found on PATH or in /usr/sbin (where Debian's package puts
 * it), started once per bench run on a free loopback port with its default settings, and stopped by
 * its pid when the run ends. Every pair of the run talks through it, each on subjects of its own.
 */
import { execFileSync, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { connect, createServer } from 'node:net'
import { cpus } from 'node:os'
import { delimiter, join } from 'node:path'

/**
 * The nats-server executable, or undefined when this machine has none. The tests look it up here too
 * (test/helpers/nats-broker.ts), through nats-broker.d.ts.
 */
export function findNatsServer() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']
  for (const dir of dirs) {
    if (!dir) continue
    const candidate = join(dir, 'nats-server')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not here.
    }
  }
  return undefined
}

/** A free TCP port on 127.0.0.1, as the system hands it out. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** The lines nats-server logs last, kept for an error message; it logs little at its default level. */
const KEPT_LINES = 20
const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5_000

/**
 * Starts `executable` on a free port of 127.0.0.1 and resolves once it says it is ready. The broker:
 * `port`, `pid`, `version`, `maxPayload` (bytes), `url(service)` (the nats:// address of a service on
 * it), `slowConsumers()` (how many slow-consumer warnings it has logged), `pin(cpu)` (its threads onto
 * one CPU, or back onto all of them with undefined; needs taskset, which the runner uses only where it
 * found it) and `stop()`.
 */
export async function startBroker(executable) {
  const version = execFileSync(executable, ['--version'], { encoding: 'utf8' }).trim()
  // Another process may take the free port before the broker binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      return await launch(executable, port, version)
    } catch (error) {
      if (attempt === 3) throw error
    }
  }
}

function launch(executable, port, version) {
  const child = spawn(executable, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] })
  // Never killed by name: only this pid, here or when the runner exits without stopping it.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  const lines = []
  let slowConsumers = 0
  let ready
  const started = new Promise((resolve) => (ready = resolve))
  let partial = ''
  child.stderr.setEncoding('utf8')
  // Read to the end, always: a broker blocked on a full pipe would stall every pair.
  child.stderr.on('data', (text) => {
    const parts = (partial + text).split('\n')
    partial = parts.pop()
    for (const line of parts) {
      lines.push(line)
      if (lines.length > KEPT_LINES) lines.shift()
      if (line.includes('Server is ready')) ready()
      if (/slow consumer/i.test(line)) slowConsumers++
    }
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  const spawnFailed = new Promise((_, reject) => child.once('error', reject))
  let pinned
  const broker = {
    port,
    pid: child.pid,
    version,
    url: (service) => `nats://127.0.0.1:${port}/${service}`,
    slowConsumers: () => slowConsumers,
    pin(cpu) {
      if (cpu === pinned) return
      const cpus = cpu === undefined ? allCpus() : String(cpu)
      // Every thread the Go runtime has started so far; later ones inherit the mask.
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(child.pid)], { stdio: 'ignore' })
      pinned = cpu
    },
    async stop() {
      process.off('exit', killOnExit)
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    },
  }
  let timer
  const failed = Promise.race([
    spawnFailed,
    exited.then((how) => Promise.reject(new Error(`nats-server exited (${how}) before it was ready: ${lines.join(' | ')}`))),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`nats-server was not ready within ${START_TIMEOUT_MS} ms: ${lines.join(' | ')}`)), START_TIMEOUT_MS)
    }),
  ])
  const info = started.then(() => serverInfo(port))
  return Promise.race([info.then(({ max_payload }) => Object.assign(broker, { maxPayload: max_payload })), failed])
    .catch(async (error) => {
      await broker.stop()
      throw error
    })
    .finally(() => clearTimeout(timer))
}

/** The INFO object a NATS server greets every client with (its first line). */
function serverInfo(port) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('data', (chunk) => {
      text += chunk
      const end = text.indexOf('\r\n')
      if (end < 0) return
      socket.destroy()
      try {
        resolve(JSON.parse(text.slice(text.indexOf(' ') + 1, end)))
      } catch (error) {
        reject(error)
      }
    })
  })
}

function allCpus() {
  return `0-${cpus().length - 1}`
}
