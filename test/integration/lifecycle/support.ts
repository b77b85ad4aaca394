/**
 * Shared pieces of the call lifecycle tests: the lifecycle fixture server (test/fixtures/
 * lifecycle-server.mjs) over a real Unix socket, a client in the test process, waiting for a given
 * control message, deadlines, and recording what must not happen (error events, unhandled rejections).
 */
import { onTestFinished } from 'vitest'
import { Client, type ClientOptions } from '../../../dist/index.js'
import { mailbox, type Report } from '../../helpers/mailbox.js'
import { spawnFixture, tempSocket, type Fixture, within } from '../../helpers/processes.js'

/** A control message sent by a fixture process. */
export interface FixtureMessage extends Report {
  tag?: string
}

/** A thrown value or an abort reason as lifecycle-server.mjs describes it over its JSON channel. */
export interface Described {
  kind: string
  name?: string
  message?: string
  code?: string
  value?: unknown
  abortError?: boolean
  timeoutError?: boolean
  channelClosedError?: boolean
  serializationError?: boolean
  rangeError?: boolean
  remote?: boolean
  cause?: Described
}

/**
 * Resolves with the first message of `type` (and `tag`, when given) that the fixture sent and nobody
 * claimed yet. Other messages are kept for later calls, so the order in which a test waits for two
 * reports does not have to be the order in which they were sent. No deadline of its own: the tests
 * bound the waits that need it with within(), and the test timeout bounds the rest.
 */
export function nextMessage<T extends FixtureMessage = FixtureMessage>(fixture: Fixture, type: string, tag?: string): Promise<T> {
  return mailbox(fixture).take<T>(type, Infinity, (message) => tag === undefined || message.tag === tag)
}

export { within }

export interface LifecycleServerOptions {
  streamWindow?: number
  callTimeout?: number
  maxConcurrentCalls?: number
  /** The fixture stops running JavaScript right after accepting a connection, until this file exists. */
  stallAfterAccept?: string
}

/** Spawns the lifecycle fixture server on a fresh socket path and waits until it listens. */
export async function startLifecycleServer(options: LifecycleServerOptions = {}): Promise<{ fixture: Fixture; path: string }> {
  const path = tempSocket()
  const fixture = spawnFixture('lifecycle-server.mjs', [path, JSON.stringify(options)])
  const first = await mailbox(fixture).take(['listening', 'listen-failed'], 10_000)
  if (first.type !== 'listening') throw new Error(`fixture server did not listen: ${JSON.stringify(first)}\n${fixture.output()}`)
  return { fixture, path }
}

/**
 * A client of the test process that has completed its handshake, destroyed after the test. It exposes
 * `ping`, which the fixture's `errors` command uses for a round trip. `setup` runs before connecting.
 */
export async function lifecycleClient(path: string, options?: ClientOptions, setup?: (client: Client) => void): Promise<Client> {
  const client = new Client(path, options)
  onTestFinished(() => client.destroy())
  client.expose('ping', () => 'pong')
  setup?.(client)
  await within(10_000, client.ready(), 'the client handshake')
  return client
}

/** Starts the fixture server and connects a client of the test process to it. */
export async function serverAndClient(
  serverOptions: LifecycleServerOptions = {},
  clientOptions?: ClientOptions,
  setup?: (client: Client) => void,
): Promise<{ fixture: Fixture; path: string; client: Client }> {
  const { fixture, path } = await startLifecycleServer(serverOptions)
  const client = await lifecycleClient(path, clientOptions, setup)
  await nextMessage(fixture, 'connection')
  return { fixture, path, client }
}

/**
 * Records, for the rest of the test, what must not happen in the test process: `error` events of
 * `client` and unhandled promise rejections.
 */
export function recordMishaps(client: Client): { errors: Error[]; unhandled: unknown[] } {
  const errors: Error[] = []
  const unhandled: unknown[] = []
  const onError = (error: Error): void => {
    errors.push(error)
  }
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason)
  }
  client.on('error', onError)
  process.on('unhandledRejection', onUnhandled)
  onTestFinished(() => {
    client.off('error', onError)
    process.off('unhandledRejection', onUnhandled)
  })
  return { errors, unhandled }
}

/** A promise with its resolve function, for handlers in the test process to report through. */
export function signalled<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}
