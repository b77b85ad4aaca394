/**
 * fromMessagePort over the port shapes that cannot run here for real: Electron's MessagePortMain
 * (an EventEmitter whose 'message' listener gets `{ data, ports }`, which needs start(), and whose
 * postMessage transfers ports only) and the DOM MessagePort (addEventListener, `event.data`, start()).
 * Each is built on a worker_threads MessageChannel with exactly the documented surface; the peer is
 * the link API in this process. The real DOM runs in test/browser/chromium.test.ts.
 */
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { describe, expect, onTestFinished, test } from 'vitest'
import { ChannelClosedError, ProtocolError, fromMessagePort, type Channel, type MessagePortLike } from '../../../dist/index.js'
import { outcome } from '../../helpers/outcome.js'
import { linkApi } from '../../fixtures/link-api.mjs'
import { DEADLINE_MS, connected, coreScenarios, within } from './scenarios.js'

/** Electron's MessagePortMain as documented: EventEmitter, start(), close(), postMessage(message, ports?). */
class FakeMessagePortMain extends EventEmitter {
  readonly #port: MessagePort
  #started = false
  readonly #queue: unknown[] = []
  readonly sent: unknown[] = []

  constructor(port: MessagePort) {
    super()
    this.#port = port
    port.on('message', (data: unknown) => {
      if (this.#started) this.emit('message', { data, ports: [] })
      else this.#queue.push(data)
    })
    port.on('close', () => this.emit('close'))
  }

  postMessage(message: unknown, transfer?: unknown[]): void {
    if (transfer?.some((item) => !(item instanceof FakeMessagePortMain))) {
      throw new TypeError('Port at index 0 is not a valid port')
    }
    this.sent.push(message)
    this.#port.postMessage(message)
  }

  start(): void {
    this.#started = true
    for (const data of this.#queue.splice(0)) this.emit('message', { data, ports: [] })
  }

  close(): void {
    this.#port.close()
  }
}

/** The DOM MessagePort surface only: no on(), events with `data`, start() required. */
class DomShapedPort {
  readonly #port: MessagePort
  readonly transfers: unknown[][] = []

  constructor(port: MessagePort) {
    this.#port = port
  }

  postMessage(message: unknown, transfer: Transferable[] = []): void {
    this.transfers.push(transfer)
    this.#port.postMessage(message, transfer as never)
  }

  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.#port.addEventListener(type, listener as never)
  }

  removeEventListener(type: string, listener: (event: unknown) => void): void {
    this.#port.removeEventListener(type, listener as never)
  }

  start(): void {
    this.#port.start()
  }

  close(): void {
    this.#port.close()
  }
}

/** Two channels over a pair of ports; the remote one exposes the link API. Both destroyed after the test. */
function pair<P extends MessagePortLike>(wrap: (port: MessagePort) => P): { local: Channel; remote: Channel; localPort: P; remotePort: P } {
  const { port1, port2 } = new MessageChannel()
  const localPort = wrap(port1)
  const remotePort = wrap(port2)
  const local = fromMessagePort(localPort, { secret: 'ports' })
  const remote = fromMessagePort(remotePort, { secret: 'ports' })
  remote.expose(linkApi(() => remote))
  onTestFinished(async () => {
    await local.destroy()
    await remote.destroy()
    port1.close()
  })
  return { local, remote, localPort, remotePort }
}

describe("Electron's MessagePortMain shape", () => {
  coreScenarios(async () => connected(pair((port) => new FakeMessagePortMain(port)).local))

  test('payloads are posted without a transfer list, each in an ArrayBuffer of its own', async () => {
    const { local, localPort } = pair((port) => new FakeMessagePortMain(port))
    await connected(local)
    expect(await local.rpc('echo', 'x'.repeat(100))).toBe('x'.repeat(100))
    expect(localPort.sent.length).toBeGreaterThan(0)
    for (const message of localPort.sent) {
      const bytes = message as Uint8Array
      expect(bytes).toBeInstanceOf(Uint8Array)
      // A view into the codec's shared buffer would clone that whole buffer.
      expect(bytes.byteLength).toBe(bytes.buffer.byteLength)
    }
  })

  test('the port is closed after the goodbye; the peer sees its close', async () => {
    const { local, remote } = pair((port) => new FakeMessagePortMain(port))
    await connected(local)
    const remoteGone = new Promise<void>((resolve) => remote.once('disconnect', () => resolve()))
    await local.close()
    await within(DEADLINE_MS, remoteGone, "the peer's disconnect")
  })
})

describe('DOM MessagePort shape', () => {
  coreScenarios(async () => connected(pair((port) => new DomShapedPort(port)).local))

  test('payloads are posted in buffers of their own: small ones cloned, large ones transferred', async () => {
    const { local, localPort } = pair((port) => new DomShapedPort(port))
    await connected(local)
    localPort.transfers.length = 0
    await local.rpc('add', 1, 2)
    // A clone costs less than a transfer for a small buffer.
    expect(localPort.transfers).toEqual([[]])
    await local.rpc('echo', 'x'.repeat(10_000))
    expect(localPort.transfers).toHaveLength(2)
    const [large] = localPort.transfers[1] as ArrayBuffer[]
    expect(large).toBeInstanceOf(ArrayBuffer)
    // Transferred: detached on this side.
    expect(large.byteLength).toBe(0)
  })

  test('a port whose peer hangs up without a goodbye disconnects and rejects pending calls', async () => {
    const { port1, port2 } = new MessageChannel()
    const local = fromMessagePort(new DomShapedPort(port1))
    const remote = fromMessagePort(port2)
    remote.expose(linkApi(() => remote))
    onTestFinished(async () => {
      await local.destroy()
      await remote.destroy()
    })
    await connected(local)
    const pending = outcome(local.rpc('hang'))
    await local.rpc('add', 0, 0)
    port2.close()
    const result = await within(DEADLINE_MS, pending, 'the pending call')
    expect(result.status).toBe('rejected')
    expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
  })
})

describe('fromMessagePort', () => {
  test('messages that are not binary are left alone: the port may carry other traffic', async () => {
    const { port1, port2 } = new MessageChannel()
    const local = fromMessagePort(port1)
    const remote = fromMessagePort(port2)
    remote.expose(linkApi(() => remote))
    onTestFinished(async () => {
      await local.destroy()
      await remote.destroy()
    })
    port1.postMessage({ someone: 'else' })
    await connected(local)
    port2.postMessage('not for the channel')
    expect(await local.rpc('add', 2, 2)).toBe(4)
  })

  test('a frame over maxFrameSize closes the channel with ProtocolError', async () => {
    const { port1, port2 } = new MessageChannel()
    const local = fromMessagePort(port1, { maxFrameSize: 1024, maxHandshakeBytes: 1024 })
    const remote = fromMessagePort(port2)
    onTestFinished(async () => {
      await local.destroy()
      await remote.destroy()
    })
    await connected(local)
    const error = new Promise<Error>((resolve) => local.once('error', resolve))
    port2.postMessage(new Uint8Array(4096))
    expect(await within(DEADLINE_MS, error, 'the error event')).toBeInstanceOf(ProtocolError)
  })

  test('a wrong secret is an error event, and queued calls reject', async () => {
    const { port1, port2 } = new MessageChannel()
    const local = fromMessagePort(port1, { secret: 'a' })
    const remote = fromMessagePort(port2, { secret: 'b' })
    onTestFinished(async () => {
      await local.destroy()
      await remote.destroy()
    })
    const queued = outcome(local.rpc('add', 1, 1))
    const error = await within(DEADLINE_MS, new Promise<Error>((resolve) => local.once('error', resolve)), 'the error event')
    expect(error.name).toBe('AuthenticationError')
    expect((await queued).status).toBe('rejected')
  })

  test('the message-port transport imports nothing from node: (it is part of the browser build)', () => {
    const source = readFileSync(new URL('../../../src/transports/message-port.ts', import.meta.url), 'utf8')
    expect(source).not.toMatch(/from\s+['"]node:|require\(\s*['"]node:|import\(\s*['"]node:/)
  })
})

test('fromMessagePort accepts the port types of worker_threads and the DOM as typed', () => {
  // Compile-time: tsc checks these calls (npm test type-checks the tests); nothing runs them.
  const accepts = (
    nodePort: MessagePort,
    nodeWorker: import('node:worker_threads').Worker,
    domPort: globalThis.MessagePort,
    domWorker: globalThis.Worker,
    electronPort: FakeMessagePortMain,
  ): Channel[] => [nodePort, nodeWorker, domPort, domWorker, electronPort].map((port) => fromMessagePort(port))
  expect(typeof accepts).toBe('function')
})
