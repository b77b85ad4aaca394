/* global Worker, MessageChannel, window -- a browser page */
// The page's side: a channel over a MessageChannel port to a dedicated worker (worker.js), both sides
// calling, references, a remote error rethrown, and close() settling a pending call. The test reads
// `window.results` (a promise of plain values) through playwright-core.
import { ChannelClosedError, RemoteError, fromMessagePort } from './ipc-channel.js'

const worker = new Worker('./worker.js', { type: 'module' })
const { port1, port2 } = new MessageChannel()
worker.postMessage({ port: port2 }, [port2])
const channel = fromMessagePort(port1, { secret: 'browser secret' })
channel.expose({ where: () => 'page', double: (x) => x * 2 })

async function run() {
  const out = {}
  out.add = await channel.rpc('add', 2, 3)
  out.where = await channel.rpc('callBack', 'where')
  out.workerCallsPage = await channel.rpc('callBack', 'double', 21)
  const bytes = await channel.rpc('echo', new Uint8Array([1, 2, 3, 255]))
  out.bytes = { isUint8Array: bytes instanceof Uint8Array, values: Array.from(bytes) }
  const when = await channel.rpc('echo', { when: new Date(0), big: 2n ** 70n, set: new Set([1]) })
  out.values = { date: when.when instanceof Date, big: String(when.big), set: when.set instanceof Set }
  // References in the browser build: a callback called back, functions in a result, an AbortSignal.
  const seen = []
  const sum = await channel.rpc('callEach', (i) => (seen.push(i), i * 10), 3)
  const counter = await channel.rpc('counter')
  const controller = new AbortController()
  const aborted = channel.rpc('waitAbort', controller.signal)
  await channel.rpc('add', 0, 0)
  controller.abort(new Error('stop'))
  out.references = { sum, seen, added: await counter.add(2), aborted: await aborted, exported: channel.stats().exportedReferences > 0 }
  try {
    await channel.rpc('fail', 'x')
    out.error = 'did not throw'
  } catch (error) {
    out.error = {
      name: error.name,
      message: error.message,
      code: error.code,
      isTypeError: error instanceof TypeError,
      isRemoteError: error instanceof RemoteError,
      cause: error.cause?.name,
    }
  }
  const pending = channel.rpc('hang')
  await channel.rpc('add', 0, 0)
  await channel.close()
  try {
    await pending
    out.closed = 'did not reject'
  } catch (error) {
    out.closed = { name: error.name, code: error.code, isChannelClosedError: error instanceof ChannelClosedError }
  }
  out.connected = channel.connected
  out.bufferGlobal = typeof globalThis.Buffer
  out.processGlobal = typeof globalThis.process
  return out
}

window.results = run().catch((error) => ({ failed: String(error?.stack ?? error) }))
