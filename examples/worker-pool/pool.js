// A pool of worker_threads workers, one channel each: `node examples/worker-pool/pool.js` after
// `npm run build`. Each call goes to the worker with the fewest calls pending (stats().pendingCalls),
// so a slow call does not hold up the ones behind it; close() ends every worker.
import { once } from 'node:events'
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { fromMessagePort } from 'ipc-channel'

/**
 * @template {object} Api
 */
export class WorkerPool {
  /** @type {{ worker: Worker, channel: import('ipc-channel').Channel, api: import('ipc-channel').Remote<Api> }[]} */
  #members

  /** @param {URL} script @param {number} size */
  constructor(script, size) {
    this.#members = Array.from({ length: size }, () => {
      const worker = new Worker(script)
      const channel = fromMessagePort(worker, { role: 'server' })
      return { worker, channel, api: /** @type {import('ipc-channel').Remote<Api>} */ (channel.remote()) }
    })
  }

  /** The typed proxy of the least busy worker: `pool.pick().resize(...)`. */
  pick() {
    let best = this.#members[0]
    for (const member of this.#members) {
      if (member.channel.stats().pendingCalls < best.channel.stats().pendingCalls) best = member
    }
    return best.api
  }

  /** Closes every channel; each worker ends once its port is closed. */
  async close() {
    await Promise.all(
      this.#members.map(async ({ worker, channel }) => {
        const exited = once(worker, 'exit')
        await channel.close()
        await exited
      }),
    )
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const log = (...args) => console.log('[pool]', ...args)
  /** @type {WorkerPool<{ hash(text: string, rounds: number): { digest: string, by: number } }>} */
  const pool = new WorkerPool(new URL('./worker.js', import.meta.url), Math.min(4, availableParallelism()))
  const jobs = Array.from({ length: 12 }, (_, index) => pool.pick().hash(`job ${index}`, 2000 + (index % 3) * 2000))
  const results = await Promise.all(jobs)
  const threads = new Set(results.map(({ by }) => by))
  log(`12 jobs done by ${threads.size} workers; first digest ${results[0].digest.slice(0, 16)}`)
  await pool.close()
  log('every worker exited')
}
