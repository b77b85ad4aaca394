/**
 * What one handshake frame costs the receiver, by what it holds: `npm run build && node bench/handshake.js`.
 *
 * A peer sends its hello before it has authenticated, so whatever a 64 KiB hello (the default
 * maxHandshakeBytes) makes the receiver do, anyone who can reach the endpoint can make it do. Each row
 * decodes one frame of about 64 KiB, through the general decoder (`Codec.decode`: the fast path, the
 * profile check, cbor-x) and through `decodeHandshake` (the fixed shapes of a handshake frame, checked
 * on the bytes). Times are medians of 15 runs, in milliseconds, each on a fresh copy of the frame;
 * "refused" means a ProtocolError, and its text follows.
 */
import { Codec } from '../dist/protocol/codec.js'
import * as shapes from '../dist/protocol/handshake-decoder.js'

const RUNS = 15
const LIMIT = 64 * 1024

/** Hello options, as CBOR bytes: the defaults a channel sends, then `extra` under the key "x". */
function hello(extra) {
  const head = [0x85, 0x00, 0x6b, ...Buffer.from('ipc-channel'), 0x01, 0xf6, 0xa3]
  const options = [0x66, ...Buffer.from('window'), 0x18, 0x40, 0x6c, ...Buffer.from('maxFrameSize'), 0x1a, 0x04, 0, 0, 0, 0x61, 0x78]
  return Uint8Array.from([...head, ...options, ...extra])
}

/** An array head for `n` elements followed by `n` copies of `item`, filling what is left of 64 KiB. */
function filled(item, headerBytes = 60) {
  const n = Math.floor((LIMIT - headerBytes) / item.length)
  const out = [0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
  for (let i = 0; i < n; i++) out.push(...item)
  return { bytes: out, n }
}

const errors = filled([0xd8, 0x1b, 0x82, 0x60, 0x60]) // 27(["", ""]): an Error value each
const ints = filled([0x01])
const nested = filled([0x81, 0x81, 0x80]) // [[[]]]: with the array holding them, four levels
const text = LIMIT - 80
const frames = [
  ['plain: 64 KiB text option', hello([0x79, text >>> 8, text & 0xff, ...new Uint8Array(text).fill(0x61)])],
  [`plain: ${ints.n} small integers`, hello(ints.bytes)],
  [`plain: ${nested.n} nested empty arrays`, hello(nested.bytes)],
  [`hostile: ${errors.n} Error values (tag 27)`, hello(errors.bytes)],
]

function median(values) {
  return values.sort((a, b) => a - b)[values.length >> 1]
}

function measure(decode, payload) {
  let outcome = 'accepted'
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const copy = payload.slice()
    const t0 = process.hrtime.bigint()
    try {
      decode(copy)
      outcome = 'accepted'
    } catch (error) {
      outcome = `refused: ${error.message}`
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return { ms: median(times), outcome }
}

console.log(`Node ${process.version}; ms per frame, median of ${RUNS}\n`)
const codec = new Codec()
const decoders = [['Codec.decode', (payload) => codec.decode(payload)]]
if (typeof shapes.decodeHandshake === 'function') decoders.push(['decodeHandshake', shapes.decodeHandshake])
for (const [label, payload] of frames) {
  console.log(`${label} (${payload.byteLength} bytes)`)
  for (const [name, decode] of decoders) {
    const { ms, outcome } = measure(decode, payload)
    console.log(`  ${ms.toFixed(3).padStart(8)} ms  ${name.padEnd(16)} ${outcome.slice(0, 100)}`)
  }
}
