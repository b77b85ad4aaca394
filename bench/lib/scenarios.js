/**
 * The four scenarios, run in the client process against `call(payload) -> Promise<bytes>`, the
 * contender's echo call. Every contender is measured by this same code on the same payloads.
 */

/** Deterministic pseudo-random bytes (xorshift32), so every contender echoes the same data. */
export function makePayload(size, seed = 0x9e3779b9) {
  const bytes = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}

function check(result, payload) {
  const n = payload.byteLength
  if (!result || result.byteLength !== n || result[0] !== payload[0] || result[n - 1] !== payload[n - 1]) {
    throw new Error(`echo returned ${result?.byteLength ?? typeof result} bytes, expected ${n}`)
  }
}

const now = () => process.hrtime.bigint()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, index)]
}

/** Runs `count` calls with `inflight` outstanding at any time. */
async function runCalls(call, payload, count, inflight) {
  let issued = 0
  const worker = async () => {
    while (issued < count) {
      issued++
      check(await call(payload), payload)
    }
  }
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker))
}

/**
 * (1) Round-trip latency of one call at a time with a small argument, after warm-up.
 * Stops early at `maxMs` so that a slow contender cannot blow the time budget.
 */
export async function latency(call, { size, warmup, calls, maxMs }) {
  const payload = makePayload(size)
  for (let i = 0; i < warmup; i++) check(await call(payload), payload)
  const samples = new Float64Array(calls)
  const deadline = Date.now() + maxMs
  let n = 0
  while (n < calls) {
    const t0 = now()
    const result = await call(payload)
    samples[n++] = Number(now() - t0) / 1000
    check(result, payload)
    if ((n & 255) === 0 && Date.now() > deadline) break
  }
  const sorted = samples.subarray(0, n).sort()
  let sum = 0
  for (const s of sorted) sum += s
  return {
    calls: n,
    p50Us: percentile(sorted, 50),
    p90Us: percentile(sorted, 90),
    p99Us: percentile(sorted, 99),
    p999Us: percentile(sorted, 99.9),
    maxUs: sorted[n - 1],
    meanUs: sum / n,
  }
}

/** (2) Calls per second with `inflight` calls outstanding, over a fixed time window after warm-up. */
export async function throughput(call, { size, inflight, warmupMs, durationMs }) {
  const payload = makePayload(size)
  let stop = false
  let counting = false
  let completed = 0
  const worker = async () => {
    while (!stop) {
      check(await call(payload), payload)
      if (counting) completed++
    }
  }
  const workers = Array.from({ length: inflight }, worker)
  const failed = Promise.all(workers).then(() => undefined)
  await Promise.race([sleep(warmupMs), failed])
  counting = true
  const t0 = now()
  await Promise.race([sleep(durationMs), failed])
  counting = false
  const seconds = Number(now() - t0) / 1e9
  const counted = completed
  stop = true
  await failed
  return { inflight, completed: counted, seconds, callsPerSec: counted / seconds }
}

/** (3) Echo of one large Uint8Array, one at a time: median wall time of `reps` after `warmup`. */
export async function bandwidth(call, { size, warmup, reps }) {
  const payload = makePayload(size)
  for (let i = 0; i < warmup; i++) check(await call(payload), payload)
  const times = []
  for (let i = 0; i < reps; i++) {
    const t0 = now()
    const result = await call(payload)
    times.push(Number(now() - t0) / 1e6)
    check(result, payload)
  }
  const sorted = [...times].sort((a, b) => a - b)
  const medianMs = sorted[Math.floor(sorted.length / 2)]
  // Bytes moved: the payload out and back.
  const mibPerSec = (2 * size) / (1024 * 1024) / (medianMs / 1000)
  return { size, times, medianMs, mibPerSec }
}

/**
 * (4) Server memory: after `warmup` calls the runner samples the server (after a full GC), then the
 * client makes `calls` calls with `inflight` outstanding and the runner samples again. `mark(label)`
 * resolves once the runner has taken the sample.
 */
export async function memory(call, { size, inflight, warmup, calls }, mark) {
  const payload = makePayload(size)
  await runCalls(call, payload, warmup, inflight)
  await mark('before')
  const t0 = now()
  await runCalls(call, payload, calls, inflight)
  const seconds = Number(now() - t0) / 1e9
  await mark('after')
  return { calls, inflight, seconds }
}

export const scenarios = { latency, throughput, bandwidth, memory }
