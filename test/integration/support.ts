/**
 * Shared pieces of the integration tests: fixture servers and clients started over real Unix sockets,
 * waiting for a given control message (through the fixture's mailbox), deadlines, and clients closed
 * after each test.
 */
import { onTestFinished } from 'vitest'
import { Client, Server, type ClientOptions, type ServerOptions } from '../../dist/index.js'
import { mailbox, type Report } from '../helpers/mailbox.js'
import { spawnFixture, tempSocket, type Fixture, within } from '../helpers/processes.js'

/** A control message sent by a fixture process. */
export type FixtureMessage = Report

/** An error as a fixture describes it over its JSON control channel. */
export interface DescribedError {
  name?: string
  code?: string
  message?: string
  thrown?: string
  authentication?: boolean
  protocol?: boolean
  cause?: DescribedError
}

/**
 * Resolves with the next message of `type` (or of any of `types`) from the fixture, in the order the
 * fixture sent them; messages of other types stay available to other waiters.
 */
export function nextMessage<T extends FixtureMessage = FixtureMessage>(fixture: Fixture, type: string | string[], ms = 5000): Promise<T> {
  return mailbox(fixture).take<T>(type, ms)
}

/** Options of test/fixtures/server.mjs. */
export interface ServerFixtureOptions {
  secret?: string
  maxFrameSize?: number
  handshakeTimeout?: number
  registerErrors?: boolean
  callOnConnect?: boolean
}

export interface ServerFixture {
  fixture: Fixture
  /** The socket path the fixture listens on. */
  path: string
}

/**
 * Spawns test/fixtures/server.mjs on a fresh socket path (or `path`) and waits until it listens.
 */
export async function startServer(options: ServerFixtureOptions = {}, path = tempSocket()): Promise<ServerFixture> {
  const fixture = spawnFixture('server.mjs', [path, JSON.stringify(options)])
  const message = await nextMessage(fixture, ['listening', 'listen-failed'])
  if (message.type === 'listening') return { fixture, path }
  throw new Error(`fixture server did not listen: ${JSON.stringify(message)}\n${fixture.output()}`)
}

/** A Client of the test process, destroyed after the test. Not awaited: calls may be queued first. */
export function newClient(path: string, options?: ClientOptions): Client {
  const client = new Client(path, options)
  onTestFinished(() => client.destroy())
  return client
}

/** A Server in the test process, listening on `path`; closed after the test. */
export async function listenHere(path: string, options?: ServerOptions): Promise<Server> {
  const server = new Server(path, options)
  onTestFinished(() => server.close())
  await server.listen()
  return server
}

/** A Client of the test process that has completed its handshake; destroyed after the test. */
export async function connectClient(path: string, options?: ClientOptions): Promise<Client> {
  const client = newClient(path, options)
  await client.ready()
  return client
}

export { within }
