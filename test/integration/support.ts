/**
 * Shared pieces of the integration tests: fixture servers and clients started over real Unix sockets,
 * waiting for a given control message, deadlines, and clients closed after each test.
 */
import { onTestFinished } from 'vitest'
import { Client, Server, type ClientOptions, type ServerOptions } from '../../dist/index.js'
import { spawnFixture, tempSocket, type Fixture, within } from '../helpers/processes.js'

/** A control message sent by a fixture process. */
export interface FixtureMessage {
  type: string
  [key: string]: unknown
}

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
 * Sorts the control messages of one fixture by type, so that tests can wait for several kinds at once
 * without one waiter swallowing another's message.
 */
class Reports {
  readonly #buffered: FixtureMessage[] = []
  readonly #waiters: { types: string[]; resolve: (message: FixtureMessage) => void; reject: (error: Error) => void }[] = []
  #ended: Error | undefined

  constructor(fixture: Fixture) {
    void this.#pump(fixture)
  }

  async #pump(fixture: Fixture): Promise<void> {
    for (;;) {
      let message: FixtureMessage
      try {
        message = await fixture.message<FixtureMessage>()
      } catch (error) {
        this.#ended = error as Error
        for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#ended)
        return
      }
      const index = this.#waiters.findIndex((waiter) => waiter.types.includes(message.type))
      if (index >= 0) this.#waiters.splice(index, 1)[0].resolve(message)
      else this.#buffered.push(message)
    }
  }

  next(types: string[]): Promise<FixtureMessage> {
    const index = this.#buffered.findIndex((message) => types.includes(message.type))
    if (index >= 0) return Promise.resolve(this.#buffered.splice(index, 1)[0])
    if (this.#ended) return Promise.reject(this.#ended)
    const promise = new Promise<FixtureMessage>((resolve, reject) => this.#waiters.push({ types, resolve, reject }))
    // A test that failed early may leave a waiter behind: its rejection when the fixture is killed is not news.
    promise.catch(() => {})
    return promise
  }
}

const reports = new WeakMap<Fixture, Reports>()

/**
 * Resolves with the next message of `type` (or of any of `types`) from the fixture, in the order the
 * fixture sent them; messages of other types stay available to other waiters.
 */
export function nextMessage<T extends FixtureMessage = FixtureMessage>(
  fixture: Fixture,
  type: string | string[],
  ms = 5000,
): Promise<T> {
  let sorted = reports.get(fixture)
  if (!sorted) {
    sorted = new Reports(fixture)
    reports.set(fixture, sorted)
  }
  const types = Array.isArray(type) ? type : [type]
  return within(ms, sorted.next(types), `the fixture's ${types.join(' or ')} message`) as Promise<T>
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
