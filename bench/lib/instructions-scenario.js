/**
 * Preloaded (`node --import`) into the client process by `bench/instructions.js`: adds an
 * `instructions` scenario to the harness's scenario table (bench/lib/scenarios.js, the same module
 * instance the harness uses), so that the contender scripts run unchanged.
 *
 * The scenario makes echo calls with a 32-byte argument, `inflight` at a time, from long-lived loops
 * (unlike `memory`, which starts new loops after its mark, so that V8 compiles them again inside the
 * counted part), and stops at each of `boundaries` (cumulative call counts): it lets every call in
 * flight finish, then writes the boundary's label to file descriptor `markFds[0]` and blocks reading
 * one byte from `markFds[1]` while the runner dumps callgrind's counters. The stop is synchronous and
 * touches no stream or timer: going through the control socket instead ran Node's stream code with
 * another socket at every mark, and V8 deoptimized and recompiled a dozen functions after each one.
 *
 * A Worker inherits the process's execArgv, so this module is preloaded in the Worker of a port
 * contender too (bench/lib/ports.js), where the server runs: there it adds nothing. The scenario is
 * the main thread's alone, and only the main thread writes marks.
 */
import { readSync, writeSync } from 'node:fs'
import { isMainThread } from 'node:worker_threads'
import { checkBytes, fingerprint, makePayload, scenarios } from './scenarios.js'

/** @param options { size, inflight, boundaries: [{ at, label }] with `at` increasing, markFds: [out, in] } */
async function instructions(call, { size, inflight, boundaries, markFds }) {
  const payload = makePayload(size)
  const expected = fingerprint(payload)
  const [markOut, markIn] = markFds
  const answer = Buffer.alloc(1)
  let issued = 0
  let completed = 0
  let next = 0 // index of the next boundary
  let stopAt = boundaries[0].at
  let waiting // the loops that reach the boundary wait on it
  let wake = () => {}

  /** Called by the loop whose call completed last before the boundary: marks, and lets all go on. */
  const stop = () => {
    writeSync(markOut, `${boundaries[next].label}\n`)
    if (readSync(markIn, answer, 0, 1, null) !== 1) throw new Error('the runner went away')
    next++
    stopAt = next < boundaries.length ? boundaries[next].at : -1
    wake()
  }
  const arm = () => {
    waiting = new Promise((resolve) => (wake = resolve))
  }
  arm()

  const loop = async () => {
    for (;;) {
      if (stopAt === -1) return
      if (issued === stopAt) {
        await waiting
        continue
      }
      issued++
      checkBytes(await call(payload), expected)
      completed++
      if (completed === stopAt) {
        stop()
        arm()
      }
    }
  }
  await Promise.all(Array.from({ length: inflight }, loop))
  return { calls: completed, inflight }
}

if (isMainThread) scenarios.instructions = instructions
