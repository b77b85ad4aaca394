/**
 * Large frames and the receiving process's memory (src/transports/frame-memory.ts): the frame
 * allocator primes glibc's thresholds on the first frame of 1 MiB or more, and from then on a 16 MiB
 * frame lands in memory the last one used rather than in pages fresh from the kernel.
 */
import { describe, expect, test } from 'vitest'
import { spawnFixture } from '../../helpers/processes.js'
import { connectClient, nextMessage, startServer, within } from '../support.js'

const MiB = 1024 * 1024
const FRAME = 16 * MiB
/** Pages of one frame (4 KiB pages): what a process faults in to fill it in fresh memory. */
const FRAME_PAGES = FRAME / 4096

const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } }
const glibc = process.platform === 'linux' && Boolean(report.header?.glibcVersionRuntime)
// Fixed thresholds turn glibc's dynamic ones off, and with them what is tested here.
const fixedThresholds =
  Object.keys(process.env).some((name) => /^MALLOC_(TRIM|MMAP|TOP_PAD)/.test(name)) || /glibc\.malloc/.test(process.env.GLIBC_TUNABLES ?? '')

/** How much the brk heap of a fresh process grew to serve 16 MiB after a first frame of `bytes`. */
async function heapGrowthAfterFrame(bytes: number): Promise<number> {
  const fixture = spawnFixture('frame-memory-probe.mjs', [String(bytes)], {}, ['--expose-gc', '--single-threaded-gc'])
  const probed = await nextMessage<{ type: string; grew: number }>(fixture, 'probed')
  return probed.grew
}

describe.skipIf(!glibc || fixedThresholds)('large frames, glibc', () => {
  test('the first frame of 1 MiB primes the allocator: 16 MiB then comes from the heap', async () => {
    expect(await heapGrowthAfterFrame(2 * MiB)).toBeGreaterThanOrEqual(FRAME)
  })

  test('a smaller frame leaves the allocator as it is: 16 MiB is still mapped on its own', async () => {
    expect(await heapGrowthAfterFrame(512 * 1024)).toBe(0)
  })

  test('after warm-up a server reuses the memory of the last 16 MiB frame for the next', { timeout: 60_000 }, async () => {
    const { path } = await startServer()
    const client = await connectClient(path)
    const payload = new Uint8Array(FRAME).fill(0x5a)
    const faults: number[] = []
    for (let i = 0; i < 16; i++) {
      const before = await client.rpc<number>('minorPageFaults')
      const echoed = await within(10_000, client.rpc<Uint8Array>('echo', payload), `echo ${i}`)
      const after = await client.rpc<number>('minorPageFaults')
      expect(echoed.byteLength).toBe(FRAME)
      expect(echoed[FRAME - 1]).toBe(0x5a)
      faults.push(after - before)
    }
    // The first three echoes grow the server's heap to its working size. After them, an echo that
    // faults in half a frame's pages or more is the allocator having given the memory back (twice a
    // frame's pages each time: its buffer and the socket's read buffers). With the priming taken out,
    // this failed in 7 of 8 runs here, most echoes faulting; with it, no run had more than one.
    const fresh = faults.slice(3).filter((count) => count >= FRAME_PAGES / 2)
    expect(fresh.length, `server page faults per echo: ${faults.join(', ')}`).toBeLessThanOrEqual(2)
  })
})
