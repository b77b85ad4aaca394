/**
 * What an idle connection keeps, both ends in one process (test/fixtures/idle-memory.mjs): buffer
 * memory of at most the first write batch a side (1 KiB, src/transports/stream.ts), not the 16 KiB
 * batch of a busy connection. bench/idle.js measures the server process's RSS.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { fixturesDir, tempSocket } from '../../helpers/processes.js'

test('an idle connection keeps at most a small write batch at each end', () => {
  const stdout = execFileSync(process.execPath, ['--expose-gc', join(fixturesDir, 'idle-memory.mjs'), tempSocket(), '200'], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  const perConnection = JSON.parse(stdout) as { arrayBuffers: number; heap: number }
  // Both ends: two first batches of 1 KiB, and nothing else that stays.
  expect(perConnection.arrayBuffers).toBeLessThanOrEqual(2 * 1024 + 256)
  expect(perConnection.arrayBuffers).toBeGreaterThan(0)
})
