/**
 * Microbenchmark of what one echo call costs outside the socket: `npm run build && node bench/micro.js`.
 *
 * Times, in one process, the per-message steps of the throughput scenario (the call
 * `[2, id, 'echo', [Uint8Array(32)]]` and its result `[4, id, Uint8Array(32)]`) through ipc-channel's
 * codec from dist/ (its fast path, src/protocol/fast-cbor.ts, handles both messages), next to bare
 * cbor-x with the same options and to what the raw-socket contender does per frame. Then the copy that reassembles a 16 MiB frame from 64 KiB socket chunks, into memory
 * that was used before and into memory never touched (page faults), which is where the 16 MiB echo
 * spends its time. Figures are medians of 7 batches, in nanoseconds per operation (milliseconds for
 * the 16 MiB copy).
 *
 * Two structured payloads follow the echo: a call whose argument is a 20-field record with a `Date`
 * (the structured-object scenario), and one whose argument also holds a `Map`, a `Set`, a
 * `Float64Array` and a `BigInt`; each encoded and decoded through the codec and through bare cbor-x.
 */
import { Decoder, Encoder } from 'cbor-x'
import { record, rich } from './lib/records.js'
import { CODEC_OPTIONS, Codec } from '../dist/protocol/codec.js'
import { checkProfile } from '../dist/protocol/profile.js'

const BATCHES = 7
const PER_BATCH = 200_000

/** Median ns per call of `fn` over BATCHES batches of `n` calls, after one warm-up batch. */
function time(fn, n = PER_BATCH) {
  let sink = 0
  const batch = () => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) sink ^= fn(i) === undefined ? 0 : 1
    return Number(process.hrtime.bigint() - t0) / n
  }
  batch()
  const times = Array.from({ length: BATCHES }, batch).sort((a, b) => a - b)
  if (sink === 0.5) console.log('unreachable')
  return times[BATCHES >> 1]
}

const bytes32 = new Uint8Array(32).map((_, i) => i * 7)
const codec = new Codec()
const encoder = new Encoder(CODEC_OPTIONS)
const decoder = new Decoder(CODEC_OPTIONS)
const call = (id) => [2, id, 'echo', [bytes32]]
const callNumber = (id) => [2, id, 'echo', [id]]
const result = (id) => [4, id, bytes32]
const callBytes = codec.encode(call(1000))
const resultBytes = codec.encode(result(1000))

const recordCall = (id) => [2, id, 'save', [record]]
const richCall = (id) => [2, id, 'save', [rich]]
const recordBytes = codec.encode(recordCall(1000))
const richBytes = codec.encode(richCall(1000))

const rows = [
  ['call: Codec.encodeData (client sends; fast path)', () => time((i) => codec.encodeData(call(i), 3))],
  ['call: cbor-x Encoder.encode alone', () => time((i) => encoder.encode(call(i)))],
  ['call with a number argument: cbor-x encode', () => time((i) => encoder.encode(callNumber(i)))],
  ['call: Codec.decode (server receives; fast path)', () => time(() => codec.decode(callBytes))],
  ['call: cbor-x Decoder.decode alone', () => time(() => decoder.decode(callBytes))],
  ['call: checkProfile alone', () => time(() => checkProfile(callBytes))],
  ['result: Codec.encodeData (server sends; fast path)', () => time((i) => codec.encodeData(result(i), 2))],
  ['result: cbor-x Encoder.encode alone', () => time((i) => encoder.encode(result(i)))],
  ['result: Codec.decode (client receives; fast path)', () => time(() => codec.decode(resultBytes))],
  ['record: Codec.encodeData (20 fields with a Date)', () => time((i) => codec.encodeData(recordCall(i), 3), PER_BATCH / 4)],
  ['record: cbor-x Encoder.encode alone', () => time((i) => encoder.encode(recordCall(i)), PER_BATCH / 4)],
  ['record: Codec.decode', () => time(() => codec.decode(recordBytes), PER_BATCH / 4)],
  ['record: cbor-x Decoder.decode alone', () => time(() => decoder.decode(recordBytes), PER_BATCH / 4)],
  ['record with Map, Set, Float64Array, BigInt: Codec.encodeData', () => time((i) => codec.encodeData(richCall(i), 3), PER_BATCH / 4)],
  ['record with Map, Set, Float64Array, BigInt: Codec.decode', () => time(() => codec.decode(richBytes), PER_BATCH / 4)],
  ['record with Map, Set, Float64Array, BigInt: cbor-x encode', () => time((i) => encoder.encode(richCall(i)), PER_BATCH / 4)],
  ['record with Map, Set, Float64Array, BigInt: cbor-x decode', () => time(() => decoder.decode(richBytes), PER_BATCH / 4)],
  [
    'raw-socket per frame: header + copy into a new Buffer',
    () =>
      time(() => {
        const frame = Buffer.allocUnsafe(36)
        frame.writeUInt32BE(32, 0)
        frame.set(bytes32, 4)
        return frame
      }),
  ],
]

console.log(`Node ${process.version}; ns per operation, median of ${BATCHES} batches of ${PER_BATCH.toLocaleString('en-US')}\n`)
console.log(
  `call ${callBytes.byteLength} bytes, result ${resultBytes.byteLength} bytes, record call ${recordBytes.byteLength} bytes, record call with Map... ${richBytes.byteLength} bytes on the wire (payload)\n`,
)
const figures = {}
for (const [label, run] of rows) {
  figures[label] = run()
  console.log(`${figures[label].toFixed(0).padStart(6)} ns  ${label}`)
}
const codecPerCall =
  figures['call: Codec.encodeData (client sends; fast path)'] +
  figures['call: Codec.decode (server receives; fast path)'] +
  figures['result: Codec.encodeData (server sends; fast path)'] +
  figures['result: Codec.decode (client receives; fast path)']
console.log(`\ncodec per round trip (2 encodes + 2 decodes): ${codecPerCall.toFixed(0)} ns`)

// Reassembling a 16 MiB frame from 64 KiB chunks: into reused memory, and into fresh memory. Fresh
// buffers are kept alive until the end so that the allocator cannot hand back pages already touched.
const MiB = 1024 * 1024
const chunks = Array.from({ length: 256 }, (_, i) => Buffer.alloc(64 * 1024, i))
const copyInto = (target) => {
  const t0 = process.hrtime.bigint()
  let at = 0
  for (const chunk of chunks) {
    target.set(chunk, at)
    at += chunk.byteLength
  }
  return Number(process.hrtime.bigint() - t0) / 1e6
}
const median = (values) => values.sort((a, b) => a - b)[values.length >> 1]
const reused = new Uint8Array(16 * MiB)
copyInto(reused)
const warm = median(Array.from({ length: BATCHES }, () => copyInto(reused)))
const kept = []
const cold = median(
  Array.from({ length: BATCHES }, () => {
    const t0 = process.hrtime.bigint()
    const target = new Uint8Array(16 * MiB)
    kept.push(target)
    const allocMs = Number(process.hrtime.bigint() - t0) / 1e6
    return allocMs + copyInto(target)
  }),
)
const concat = median(
  Array.from({ length: BATCHES }, () => {
    const t0 = process.hrtime.bigint()
    kept.push(Buffer.concat(chunks, 16 * MiB))
    return Number(process.hrtime.bigint() - t0) / 1e6
  }),
)
console.log(`\n16 MiB frame from 256 chunks of 64 KiB:`)
console.log(`${warm.toFixed(2).padStart(6)} ms  copy into a buffer used before`)
console.log(
  `${cold.toFixed(2).padStart(6)} ms  new Uint8Array + copy, memory never touched (what FrameDecoder does when the allocator has no warm pages)`,
)
console.log(`${concat.toFixed(2).padStart(6)} ms  Buffer.concat into memory never touched (the raw-socket contender, same case)`)
