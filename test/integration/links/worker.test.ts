/**
 * fromMessagePort over worker_threads: a Worker and its parentPort, and a MessageChannel handed to
 * the worker. The worker (test/fixtures/link-worker.mjs) exposes the link API.
 */
import { join } from 'node:path'
import { MessageChannel, Worker } from 'node:worker_threads'
import { describe, expect, onTestFinished, test } from 'vitest'
import { ChannelClosedError, fromMessagePort, type Channel, type MessagePortOptions } from '../../../dist/index.js'
import { fixturesDir } from '../../helpers/processes.js'
import { outcome, reasonOf } from '../../helpers/outcome.js'
import { DEADLINE_MS, connected, coreScenarios, within } from './scenarios.js'

const workerPath = join(fixturesDir, 'link-worker.mjs')

interface WorkerLink {
  worker: Worker
  channel: Channel
  exited: Promise<number>
}

/** A worker and a channel to it; over its own port when `overPort`, else over the Worker itself. */
function startWorker(overPort: boolean, workerData: Record<string, unknown> = {}, options: MessagePortOptions = {}): WorkerLink {
  let worker: Worker
  let channel: Channel
  if (overPort) {
    const { port1, port2 } = new MessageChannel()
    worker = new Worker(workerPath, { workerData: { ...workerData, port: port2 }, transferList: [port2] })
    channel = fromMessagePort(port1, options)
  } else {
    worker = new Worker(workerPath, { workerData })
    channel = fromMessagePort(worker, options)
  }
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  onTestFinished(async () => {
    await channel.destroy()
    await worker.terminate()
  })
  return { worker, channel, exited }
}

describe('fromMessagePort over a Worker and its parentPort', () => {
  coreScenarios(async () => connected(startWorker(false).channel))

  test('a worker that exits mid-call rejects it with ChannelClosedError naming the exit code', async () => {
    const { channel } = startWorker(false)
    await connected(channel)
    const error = reasonOf<Error>(await within(DEADLINE_MS, outcome(channel.rpc('exit', 3)), 'the call'))
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toMatch(/the worker exited with code 3/)
  })

  test('an uncaught exception in the worker closes the channel with it as the cause', async () => {
    const { channel } = startWorker(false)
    await connected(channel)
    const pending = outcome(channel.rpc('hang'))
    expect(await channel.rpc('crashSoon', 'kaboom')).toBe(true)
    const error = reasonOf<Error>(await within(DEADLINE_MS, pending, 'the pending call'))
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toMatch(/exited with code 1 after an uncaught Error: kaboom/)
  })

  test('closing the channel lets the worker end on its own', async () => {
    const { channel, exited } = startWorker(false)
    await connected(channel)
    await channel.close()
    expect(await within(DEADLINE_MS, exited, 'the worker exit')).toBe(0)
  })

  test('explicit roles and a secret', async () => {
    const { channel } = startWorker(false, { secret: 'w', role: 'client' }, { secret: 'w', role: 'server' })
    await connected(channel)
    expect(await channel.rpc('add', 40, 2)).toBe(42)
  })
})

describe('fromMessagePort over a MessageChannel handed to a worker', () => {
  coreScenarios(async () => connected(startWorker(true, { secret: 'p' }, { secret: 'p' }).channel))

  test("the worker's exit closes the port and rejects pending calls", async () => {
    const { channel } = startWorker(true)
    await connected(channel)
    const error = reasonOf<Error>(await within(DEADLINE_MS, outcome(channel.rpc('exit', 4)), 'the call'))
    expect(error).toBeInstanceOf(ChannelClosedError)
  })

  test('large binary values arrive intact', async () => {
    const { channel } = startWorker(true)
    await connected(channel)
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251)
    const back = (await within(DEADLINE_MS, channel.rpc('echo', big), 'echo')) as Uint8Array
    expect(back.byteLength).toBe(big.byteLength)
    expect(Buffer.compare(back, big)).toBe(0)
  })
})
