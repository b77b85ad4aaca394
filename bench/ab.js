/**
 * The codec's hot operations in two builds, side by side in one process: `node bench/ab.js <dist A> <dist B>`
 * (e.g. a build of the previous commit made with `git archive` and `tsc -p tsconfig.build.json`, and dist/).
 *
 * Where bench/micro.js times one build at a time in wall-clock time, which moves by 2x on a shared
 * machine, this alternates batches of the two builds and times each by the process's CPU time, so
 * that both see the same conditions; it prints the minimum and the median over the batches, in
 * nanoseconds per operation. AB_ONLY=<text> keeps the operations whose label holds it, AB_ROUNDS=<n>
 * sets the number of batches (40).
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Decoder, Encoder } from 'cbor-x'
import { record } from './lib/records.js'

const [distA, distB] = process.argv.slice(2)
if (!distA || !distB) {
  console.error('usage: node bench/ab.js <dist A> <dist B>')
  process.exit(2)
}
const load = async (dist) => {
  const url = (file) => pathToFileURL(resolve(dist, 'protocol', file)).href
  return { ...(await import(url('codec.js'))), ...(await import(url('profile.js'))) }
}
const ROUNDS = Number(process.env.AB_ROUNDS ?? 40)
/** AB_ONLY=record times only the operations whose label holds that text. */
const ONLY = process.env.AB_ONLY ?? ''
const WARM_UP = 4
const bytes32 = new Uint8Array(32).map((_, i) => i * 7)

function operations(module) {
  const codec = new module.Codec()
  const encoder = new Encoder(module.CODEC_OPTIONS)
  const decoder = new Decoder(module.CODEC_OPTIONS)
  const callBytes = codec.encode([2, 1000, 'echo', [bytes32]])
  const resultBytes = codec.encode([4, 1000, bytes32])
  const records = codec.encode([4, 1, Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], score: i / 3 }))])
  const dated = codec.encode([4, 1, { when: new Date(0), ids: new Set([1, 2, 3]) }])
  const recordBytes = codec.encode([2, 1000, 'save', [record]])
  // A peer's decoder sees many payloads: alike in shape, unlike in values.
  const recordVariants = Array.from({ length: 64 }, (_, i) => codec.encode([2, i, 'save', [{ ...record, id: i, customer: `customer ${i}` }]]))
  const all = [
    ['call: Codec.encodeData', 100_000, (i) => codec.encodeData([2, i, 'echo', [bytes32]], 3)],
    ['call: Codec.decode', 100_000, () => codec.decode(callBytes)],
    ['result: Codec.encodeData', 100_000, (i) => codec.encodeData([4, i, bytes32], 2)],
    ['result: Codec.decode', 100_000, () => codec.decode(resultBytes)],
    ['call: checkProfile', 200_000, () => module.checkProfile(callBytes)],
    ['Date and Set: Codec.decode', 50_000, () => codec.decode(dated)],
    ['record: Codec.encodeData', 20_000, (i) => codec.encodeData([2, i, 'save', [record]], 3)],
    ['record: Codec.decode', 20_000, () => codec.decode(recordBytes)],
    ['record, 64 variants: Codec.decode', 20_000, (i) => codec.decode(recordVariants[i & 63])],
    // The same in both columns: cbor-x itself, a yardstick taken in the same conditions.
    ['record: cbor-x encode', 20_000, (i) => encoder.encode([2, i, 'save', [record]])],
    ['record: cbor-x decode', 20_000, () => decoder.decode(recordBytes)],
    ['200 records: Codec.decode', 500, () => codec.decode(records)],
    ['200 records: checkProfile', 2000, () => module.checkProfile(records)],
  ]
  return all.filter(([label]) => label.includes(ONLY))
}

let sink = 0
function batch(fn, n) {
  const before = process.cpuUsage()
  for (let i = 0; i < n; i++) sink ^= fn(i) === undefined ? 0 : 1
  const used = process.cpuUsage(before)
  return ((used.user + used.system) * 1000) / n
}

const a = operations(await load(distA))
const b = operations(await load(distB))
const times = a.map(() => ({ a: [], b: [] }))
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < a.length; k++) {
    const [, n, fnA] = a[k]
    const fnB = b[k][2]
    // Alternate which build goes first.
    if (round % 2) {
      times[k].a.push(batch(fnA, n))
      times[k].b.push(batch(fnB, n))
    } else {
      times[k].b.push(batch(fnB, n))
      times[k].a.push(batch(fnA, n))
    }
  }
}
const median = (values) => [...values].sort((x, y) => x - y)[values.length >> 1]
const show = (values) =>
  `${Math.min(...values)
    .toFixed(0)
    .padStart(7)} / ${median(values).toFixed(0).padStart(7)}`
console.log(`Node ${process.version}; ns of CPU time per operation, min / median of ${ROUNDS - WARM_UP} batches\n`)
console.log(`${'operation'.padEnd(38)} ${'A'.padStart(17)}   ${'B'.padStart(17)}`)
for (let k = 0; k < a.length; k++) {
  const ta = times[k].a.slice(WARM_UP)
  const tb = times[k].b.slice(WARM_UP)
  console.log(`${a[k][0].padEnd(38)} ${show(ta)}   ${show(tb)}`)
}
if (sink === 0.5) console.log('unreachable')
