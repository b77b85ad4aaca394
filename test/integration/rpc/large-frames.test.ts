/**
 * Large frames and the receiving process's memory (src/transports/frame-memory.ts): the frame
 * allocator primes glibc's thresholds on the first frame of 1 MiB or more, and from then on a 16 MiB
 * frame lands in memory the last one used rather than in pages fresh from the kernel.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { PRIME_MIN } from '../../../dist/transports/frame-memory.js'
import { spawnFixture } from '../../helpers/processes.js'
import { patience } from '../../helpers/time.js'
import { connectClient, nextMessage, startServer, within } from '../support.js'

const MiB = 1024 * 1024
const FRAME = 16 * MiB

const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } }
const glibc64 = process.platform === 'linux' && Boolean(report.header?.glibcVersionRuntime) && ['x64', 'arm64'].includes(process.arch)
// Fixed thresholds turn glibc's dynamic ones off, and a preloaded allocator replaces glibc's: either
// way there is nothing to prime.
const notGlibcDefaults =
  Object.keys(process.env).some((name) => /^MALLOC_(TRIM|MMAP|TOP_PAD)/.test(name)) ||
  /glibc\.malloc/.test(process.env.GLIBC_TUNABLES ?? '') ||
  Boolean(process.env.LD_PRELOAD) ||
  process.env.IPC_CHANNEL_MALLOC_PRIMING === '0'

/** The kernel's page size, from this process's own mappings (4 KiB unless read otherwise). */
function pageSize(): number {
  const match = /^KernelPageSize:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps', 'utf8'))
  return match ? Number(match[1]) * 1024 : 4096
}

/** How much the brk heap of a fresh process grew to serve 16 MiB after a first frame of `bytes`. */
async function heapGrowthAfterFrame(bytes: number, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const fixture = spawnFixture('frame-memory-probe.mjs', [String(bytes)], env, ['--expose-gc', '--single-threaded-gc'])
  const probed = await nextMessage<{ type: string; grew: number }>(fixture, 'probed', patience(5000))
  return probed.grew
}

describe.skipIf(!glibc64 || notGlibcDefaults)('large frames, glibc', () => {
  test('a first frame of PRIME_MIN primes the allocator: 16 MiB then comes from the heap', async () => {
    expect(await heapGrowthAfterFrame(PRIME_MIN)).toBeGreaterThan(FRAME / 2)
  })

  test('a smaller first frame leaves the allocator as it is: 16 MiB is still mapped on its own', async () => {
    expect(await heapGrowthAfterFrame(PRIME_MIN - 1)).toBeLessThan(FRAME / 2)
  })

  test('IPC_CHANNEL_MALLOC_PRIMING=0 turns the priming off', async () => {
    expect(await heapGrowthAfterFrame(PRIME_MIN, { IPC_CHANNEL_MALLOC_PRIMING: '0' })).toBeLessThan(FRAME / 2)
  })

  test('after warm-up a server reuses the memory of the last 16 MiB frame for the next', { timeout: patience(60_000) }, async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    const payload = new Uint8Array(FRAME).fill(0x5a)
    const faults: number[] = []
    for (let i = 0; i < 16; i++) {
      const before = await client.rpc<number>('minorPageFaults')
      const echoed = await within(patience(10_000), client.rpc<Uint8Array>('echo', payload), `echo ${i}`)
      const after = await client.rpc<number>('minorPageFaults')
      expect(echoed.byteLength).toBe(FRAME)
      expect(echoed[FRAME - 1]).toBe(0x5a)
      faults.push(after - before)
    }
    // The first three echoes grow the server's heap to its working size. After them, an echo that
    // faults in half a frame's pages or more is the allocator having given the memory back (twice a
    // frame's pages each time: its buffer and the socket's read buffers). With the priming taken out,
    // this failed in 7 of 8 runs here, most echoes faulting; with it, no run had more than one.
    const framePages = FRAME / pageSize()
    const fresh = faults.slice(3).filter((count) => count >= framePages / 2)
    expect(fresh.length, `server page faults per echo: ${faults.join(', ')}`).toBeLessThanOrEqual(2)
  })
})
