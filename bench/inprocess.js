/**
 * CPU per call with both ends in one process: `npm run build && node bench/inprocess.js [dist-dir]`.
 *
 * A server and a client of ipc-channel in this one process, over a Unix socket, echo a 32-byte
 * Uint8Array with 64 calls in flight. With one thread doing the work of both sides, and no wake-ups of
 * another process, calls per second measure the CPU a call costs (client and server together) more
 * steadily than the two-process bench does, which makes it the quick A/B of a change: build each
 * version into its own directory and alternate, e.g. `node bench/inprocess.js /tmp/before/dist` and
 * `node bench/inprocess.js`. Prints five 1-second rounds after a warm-up, and their median.
 *
 * `BENCH_AFTER_GC=1` runs a full garbage collection after the warm-up, as a long-running process has
 * had by the time it counts: objects the channel keeps for its life (its maps of calls) are then in
 * the old generation, which changes what the young-generation collections cost.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

const distDir = resolve(process.argv[2] ?? new URL('../dist', import.meta.url).pathname)
const { connect, listen } = await import(pathToFileURL(join(distDir, 'index.js')).href)

const IN_FLIGHT = 64
const ROUNDS = 5

const dir = mkdtempSync(join(tmpdir(), 'ipc-inprocess-'))
const path = join(dir, 'bench.sock')
const server = await listen(path)
server.expose('echo', (bytes) => bytes)
const client = await connect(path)
const argument = new Uint8Array(32).fill(7)

/** Calls per second over `ms` milliseconds with IN_FLIGHT loops each awaiting its call. */
async function round(ms) {
  let calls = 0
  let stop = false
  const timer = setTimeout(() => (stop = true), ms)
  const start = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (!stop) {
        await client.rpc('echo', argument)
        calls++
      }
    }),
  )
  clearTimeout(timer)
  return calls / ((performance.now() - start) / 1000)
}

try {
  await round(500)
  if (process.env.BENCH_AFTER_GC === '1') {
    setFlagsFromString('--expose-gc')
    runInNewContext('gc')()
  }
  const rates = []
  for (let i = 0; i < ROUNDS; i++) rates.push(await round(1000))
  rates.sort((a, b) => a - b)
  const median = rates[ROUNDS >> 1]
  console.log(`${distDir}: calls/s ${rates.map((rate) => Math.round(rate).toLocaleString('en-US')).join(' ')}`)
  console.log(`median ${Math.round(median).toLocaleString('en-US')} calls/s = ${(1e6 / median).toFixed(2)} µs of CPU per call (client + server)`)
} finally {
  await client.close()
  await server.close()
  rmSync(dir, { recursive: true, force: true })
}
