/**
 * Child of `bench/instructions.js` in codec mode (COUNT_MODE=codec): runs under callgrind, in one
 * process, the codec steps of one call that `bench/micro.js` times, and lets the parent dump
 * callgrind's counters between loops. Not meant to be run by hand.
 *
 * Protocol on stdio: after each loop it writes `mark <label>\n` to stdout and blocks reading stdin
 * until the parent has dumped the counters (`vgdb --pid=<pid> dump`) and answered with one byte. Each
 * step runs `warmup` ops, a settling loop of `n` ops (discarded), then a loop of `n` ops and a loop of
 * `2n` ops of the same closure, each between two marks; the parent reports
 * (count(2n) - count(n)) / n, which cancels the marks and the dumps themselves. Before each mark the
 * main thread blocks for 300 ms (Atomics.wait) so that V8's helper threads finish what the loop set
 * off (a compile job, sweeping) inside the loop's own count. The parent runs one process per step:
 * after other steps the heap is larger and collections fall unevenly into the loops (a few % of
 * spread between runs, against 0.0-0.3% for a step alone). Arguments: `<n> <warmup> [step,...]`, or
 * `--list` to print the steps and exit.
 */
import { readSync, writeSync } from 'node:fs'
import { Decoder, Encoder } from 'cbor-x'
import { CODEC_OPTIONS, Codec } from '../../dist/protocol/codec.js'
import { checkProfile } from '../../dist/protocol/profile.js'
import { record, rich } from './records.js'

const n = Number(process.argv[2])
const warmup = Number(process.argv[3])
const only = process.argv[4]?.split(',')

const bytes32 = new Uint8Array(32).map((_, i) => i * 7)
const codec = new Codec()
const encoder = new Encoder(CODEC_OPTIONS)
const decoder = new Decoder(CODEC_OPTIONS)
const call = (id) => [2, id, 'echo', [bytes32]]
const result = (id) => [4, id, bytes32]
const callBytes = codec.encode(call(1000))
const resultBytes = codec.encode(result(1000))
// micro.js's structured payloads (records.js).
const recordCall = (id) => [2, id, 'save', [record]]
const richCall = (id) => [2, id, 'save', [rich]]
const recordBytes = codec.encode(recordCall(1000))
const richBytes = codec.encode(richCall(1000))

/** The rows, in bench/micro.js's words; keys are what COUNT_CODEC_STEPS selects. */
const steps = {
  'call-encode': ['call: Codec.encodeData (client sends)', (i) => codec.encodeData(call(i), 3)],
  'call-encode-cbor': ['call: cbor-x Encoder.encode alone', (i) => encoder.encode(call(i))],
  'call-decode': ['call: Codec.decode (server receives)', () => codec.decode(callBytes)],
  'call-decode-cbor': ['call: cbor-x Decoder.decode alone', () => decoder.decode(callBytes)],
  'call-check': ['call: checkProfile alone', () => checkProfile(callBytes)],
  'result-encode': ['result: Codec.encodeData (server sends)', (i) => codec.encodeData(result(i), 2)],
  'result-decode': ['result: Codec.decode (client receives)', () => codec.decode(resultBytes)],
  'record-encode': ['record: Codec.encodeData (20 fields with a Date)', (i) => codec.encodeData(recordCall(i), 3)],
  'record-encode-cbor': ['record: cbor-x Encoder.encode alone', (i) => encoder.encode(recordCall(i))],
  'record-decode': ['record: Codec.decode', () => codec.decode(recordBytes)],
  'record-decode-cbor': ['record: cbor-x Decoder.decode alone', () => decoder.decode(recordBytes)],
  'rich-encode': ['record with Map, Set, Float64Array, BigInt: Codec.encodeData', (i) => codec.encodeData(richCall(i), 3)],
  'rich-decode': ['record with Map, Set, Float64Array, BigInt: Codec.decode', () => codec.decode(richBytes)],
  'raw-frame': [
    'raw-socket per frame: header + copy into a new Buffer',
    () => {
      const frame = Buffer.allocUnsafe(36)
      frame.writeUInt32BE(32, 0)
      frame.set(bytes32, 4)
      return frame
    },
  ],
}

const answer = Buffer.alloc(1)
function mark(label) {
  writeSync(1, `mark ${label}\n`)
  if (readSync(0, answer, 0, 1, null) !== 1) process.exit(5)
}

/** The loop of micro.js: the result is consumed so that the call cannot be dropped. */
function loop(fn, count) {
  let sink = 0
  for (let i = 0; i < count; i++) sink ^= fn(i) === undefined ? 0 : 1
  return sink
}

/**
 * Blocks the main thread for a while without executing anything, so that what V8's helper threads
 * were doing for the loop just run (a compile job, sweeping) is done before the counters are read.
 */
const cell = new Int32Array(new SharedArrayBuffer(4))
const pause = (ms = 300) => Atomics.wait(cell, 0, 0, ms)

writeSync(1, `sizes call=${callBytes.byteLength} result=${resultBytes.byteLength}\n`)
for (const [key, [label]] of Object.entries(steps)) if (!only || only.includes(key)) writeSync(1, `step ${key} ${label}\n`)
if (process.argv[2] === '--list') process.exit(0)
let sink = 0
for (const [key, [, fn]] of Object.entries(steps)) {
  if (only && !only.includes(key)) continue
  sink ^= loop(fn, warmup)
  pause()
  mark(`${key} start`)
  // The first loop after the warm-up carries a collection and helper-thread work that the warm-up set
  // off (10-40% more than the loops after it): it is counted but not used.
  sink ^= loop(fn, n)
  pause()
  mark(`${key} settle`)
  sink ^= loop(fn, n)
  pause()
  mark(`${key} n`)
  sink ^= loop(fn, 2 * n)
  pause()
  mark(`${key} 2n`)
}
if (sink === 0.5) console.log('unreachable') // keeps the results alive, as in micro.js
writeSync(1, 'done\n')
