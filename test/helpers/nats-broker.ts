/**
 * A real nats-server for the tests: found on PATH (Debian's package installs it in /usr/sbin), started
 * on a free port, stopped by pid after the test; it can be killed and started again on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { onTestFinished } from 'vitest'
import { findNatsServer, freePort } from '../../bench/lib/nats-broker.js'
import { mailbox } from './mailbox.js'
import { spawnFixture, type Fixture } from './processes.js'
import { patience } from './time.js'

/** The nats-server executable, or undefined when this machine has none. */
export const natsServerPath: string | undefined = findNatsServer()

export { freePort }

export interface Broker {
  readonly port: number
  /** The nats:// address of `service` on this broker. */
  url(service: string): string
  /** The running server process. */
  readonly process: ChildProcess
  /** Kills the server with SIGKILL and waits until it has exited. */
  kill(): Promise<void>
  /** Starts the server again on the same port, after {@link kill}. */
  restart(): Promise<void>
}

/**
 * Starts nats-server on a free port (extra arguments such as `--max_payload` go to it) and waits until
 * it accepts clients; it is killed after the test.
 */
export async function startBroker(args: string[] = []): Promise<Broker> {
  if (!natsServerPath) throw new Error('nats-server is not installed')
  const port = await freePort()
  let current = await launch(port, args)
  const stop = async (): Promise<void> => {
    if (current.exitCode !== null || current.signalCode !== null) return
    const exited = new Promise((resolve) => current.once('exit', resolve))
    current.kill('SIGKILL')
    await exited
  }
  onTestFinished(stop)
  return {
    port,
    url: (service) => `nats://127.0.0.1:${port}/${service}`,
    get process() {
      return current
    },
    kill: stop,
    async restart() {
      current = await launch(port, args)
    },
  }
}

/** Runs nats-server and resolves once its log says it is ready. */
function launch(port: number, args: string[]): Promise<ChildProcess> {
  const child = spawn(natsServerPath!, ['-a', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`nats-server did not start within ${patience(5000)} ms:\n${log}`))
    }, patience(5000))
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString()
      if (log.includes('Server is ready')) {
        clearTimeout(timer)
        resolve(child)
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${log}`))
    })
  })
}

/** A member of a service in a process of its own: test/fixtures/nats-member.mjs. */
export interface Member {
  fixture: Fixture
  pid: number
}

/** Starts test/fixtures/nats-member.mjs on `url` and waits until it has joined the service. */
export async function startMember(url: string, options: { secret?: string; maxFrameSize?: number } = {}): Promise<Member> {
  const fixture = spawnFixture('nats-member.mjs', [url, JSON.stringify(options)])
  const message = await mailbox(fixture).take(['listening', 'listen-failed'], 10_000)
  if (message.type !== 'listening') throw new Error(`member did not join: ${JSON.stringify(message)}\n${fixture.output()}`)
  return { fixture, pid: message.pid as number }
}
