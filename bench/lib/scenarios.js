/**
 * The scenarios, run in the client process against `call(value) -> Promise<value>`, the contender's
 * echo call, as `scenario(call, options, runner)` (`runner`: what the runner does on request, see
 * bench/lib/harness.js). Every contender is measured by this same code on the same payloads.
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

/**
 * The structured argument: a plain object of 20 fields as an application sends them (strings,
 * integers, floats, booleans, null, a Date, a short array, two nested objects). Made afresh per call,
 * as an application would, so that no contender can keep anything of the previous call's value.
 */
export function makeRecord(i = 0) {
  return {
    id: 48_213 + i,
    uuid: '7d9f2c1e-4b8a-4f3e-9c21-5a6b7c8d9e0f',
    name: 'Ada Lovelace',
    email: 'ada@example.org',
    active: true,
    verified: false,
    age: 36,
    score: 98.75,
    balance: -1234.5,
    rank: 3,
    createdAt: new Date(Date.UTC(2024, 4, 17, 9, 30, 15, 250)),
    role: 'admin',
    locale: 'en-GB',
    timezone: 'Europe/London',
    loginCount: 1729,
    ratio: 0.3125,
    tags: ['alpha', 'beta', 'gamma'],
    address: { street: '12 St James Square', city: 'London', postcode: 'SW1Y 4JH', country: 'GB' },
    preferences: { theme: 'dark', notifications: true, fontSize: 14 },
    note: null,
  }
}

/** What a byte echo must give back, kept apart from the argument, which a transfer detaches. */
export function fingerprint(bytes) {
  return { n: bytes.byteLength, first: bytes[0], last: bytes[bytes.byteLength - 1] }
}

/** Throws unless `result` looks like the bytes that `expected` was taken from. */
export function checkBytes(result, expected) {
  const { n, first, last } = expected
  if (!result || result.byteLength !== n || result[0] !== first || result[n - 1] !== last) {
    throw new Error(`echo returned ${result?.byteLength ?? typeof result} bytes, expected ${n}`)
  }
}

/**
 * Throws unless `result` is the record sent. JSON has no Date: a contender that speaks it gets the
 * ISO string back, which is accepted and reported. Returns how the Date arrived.
 */
function checkRecord(result, record) {
  const { createdAt } = result ?? {}
  const dateAs = createdAt instanceof Date ? 'Date' : typeof createdAt
  const time = dateAs === 'Date' ? createdAt.getTime() : dateAs === 'string' ? Date.parse(createdAt) : NaN
  if (
    !result ||
    result.id !== record.id ||
    result.balance !== record.balance ||
    result.tags?.[2] !== record.tags[2] ||
    result.address?.city !== record.address.city ||
    result.note !== null ||
    time !== record.createdAt.getTime() ||
    Object.keys(result).length !== 20
  ) {
    throw new Error(`echo returned ${JSON.stringify(result)?.slice(0, 200)}, expected the record sent`)
  }
  return dateAs
}

const now = () => process.hrtime.bigint()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The middle value (the upper one of an even count), as the echo's figures have always been taken. */
function middle(values) {
  return [...values].sort((a, b) => a - b)[values.length >> 1]
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, index)]
}

/** Runs `count` calls with `inflight` outstanding at any time. */
async function runCalls(call, payload, count, inflight) {
  const expected = fingerprint(payload)
  let issued = 0
  const worker = async () => {
    while (issued < count) {
      issued++
      checkBytes(await call(payload), expected)
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
  const expected = fingerprint(payload)
  for (let i = 0; i < warmup; i++) checkBytes(await call(payload), expected)
  const samples = new Float64Array(calls)
  const deadline = Date.now() + maxMs
  let n = 0
  while (n < calls) {
    const t0 = now()
    const result = await call(payload)
    samples[n++] = Number(now() - t0) / 1000
    checkBytes(result, expected)
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

/**
 * Calls per second with `inflight` loops that each make a call with `next()`'s argument, `verify` the
 * reply and make the next, counted over `durationMs` after `warmupMs`.
 */
async function callsPerSecond(call, next, verify, { inflight, warmupMs, durationMs }) {
  let stop = false
  let counting = false
  let completed = 0
  const worker = async () => {
    while (!stop) {
      const argument = next()
      verify(await call(argument), argument)
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

/** (2) Calls per second with `inflight` calls outstanding and a small byte argument. */
export async function throughput(call, { size, ...options }) {
  const payload = makePayload(size)
  const expected = fingerprint(payload)
  return callsPerSecond(
    call,
    () => payload,
    (result) => checkBytes(result, expected),
    options,
  )
}

/**
 * (2b) The same with the structured record (`makeRecord`) as the argument, echoed back. `dateAs` says
 * how the Date came back: 'Date', or 'string' from a contender that speaks JSON.
 */
export async function structured(call, options) {
  let dateAs
  const verify = (result, record) => (dateAs = checkRecord(result, record))
  return { ...(await callsPerSecond(call, makeRecord, verify, options)), dateAs }
}

/**
 * (3) Echo of one large Uint8Array, one at a time: median wall time of `reps` after `warmup`, with
 * every time and the minor page faults of each side during each echo: this process's (the whole
 * pair's when the server is a Worker of it) and the server process's, read by the runner. A
 * contender that transfers the argument leaves it detached: the bytes that came back are sent next.
 */
export async function bandwidth(call, { size, warmup, warmupMs = 0, reps, repsMs = 0 }, { serverFaults }) {
  let payload = makePayload(size)
  const expected = fingerprint(payload)
  const echo = async () => {
    const server = await serverFaults()
    const client = process.resourceUsage().minorPageFault
    const t0 = now()
    const result = await call(payload)
    const ms = Number(now() - t0) / 1e6
    const clientFaults = process.resourceUsage().minorPageFault - client
    const serverAfter = await serverFaults()
    checkBytes(result, expected)
    if (payload.byteLength === 0) payload = result
    return { ms, clientFaults, serverFaults: server === undefined ? undefined : serverAfter - server }
  }
  // At least `warmup` echoes, and more until `warmupMs` have passed: one echo warms a copy of 16 MiB
  // enough, but a transfer takes a fraction of a millisecond, and after one echo its code would still
  // run in the interpreter.
  const warmups = []
  const warmUntil = now() + BigInt(Math.round(warmupMs * 1e6))
  while (warmups.length < warmup || now() < warmUntil) warmups.push(await echo())
  // At least `reps` echoes, and more until `repsMs` have passed: the median of five transfers, each a
  // tenth of a millisecond, is the median of five thread wake-ups.
  const echoes = []
  const timeUntil = now() + BigInt(Math.round(repsMs * 1e6))
  while (echoes.length < reps || now() < timeUntil) echoes.push(await echo())
  const times = echoes.map((e) => e.ms)
  const medianMs = middle(times)
  // Bytes moved: the payload out and back.
  const mibPerSec = (2 * size) / (1024 * 1024) / (medianMs / 1000)
  return {
    size,
    times,
    medianMs,
    mibPerSec,
    clientFaults: echoes.map((e) => e.clientFaults),
    serverFaults: echoes.map((e) => e.serverFaults ?? null),
    faultsPerEcho: middle(echoes.map((e) => e.clientFaults + (e.serverFaults ?? 0))),
    warmups: warmups.length,
    // The first ten: a transfer warms up with hundreds.
    warmupTimes: warmups.slice(0, 10).map((e) => e.ms),
    warmupFaults: warmups.slice(0, 10).map((e) => e.clientFaults + (e.serverFaults ?? 0)),
  }
}

/**
 * (4) Server memory: after `warmup` calls the runner samples the server (after a full GC), then the
 * client makes `calls` calls with `inflight` outstanding and the runner samples again. `mark(label)`
 * resolves once the runner has taken the sample.
 */
export async function memory(call, { size, inflight, warmup, calls }, { mark }) {
  const payload = makePayload(size)
  await runCalls(call, payload, warmup, inflight)
  await mark('before')
  const t0 = now()
  await runCalls(call, payload, calls, inflight)
  const seconds = Number(now() - t0) / 1e9
  await mark('after')
  return { calls, inflight, seconds }
}

export const scenarios = { latency, throughput, structured, bandwidth, memory }
