/**
 * What one frame of tiny items costs the receiver: `npm run build && node --expose-gc bench/items.js [items]`.
 *
 * Decodes, through `Codec.decode`, a call whose one argument is an array of the same tiny item
 * repeated to fill the item budget (maxFrameItems, 2^20 by default, or the count given), and prints
 * the wire bytes, the memory the decoded message holds (heap and external, after two collections),
 * per item and in all, and the time; then a frame one item over the budget, which is refused. The
 * budget counts items as the profile check does (the top-level item, array elements, map keys and
 * values, tag contents, 32 more per tag 27), so an item that is a tag counts twice.
 */
import { Codec } from '../dist/protocol/codec.js'
import { DEFAULT_MAX_FRAME_ITEMS, ERROR_VALUE_ITEMS } from '../dist/protocol/profile.js'

const budget = Number(process.argv[2] ?? DEFAULT_MAX_FRAME_ITEMS)
const gc = globalThis.gc
if (!gc) console.log('(run with --expose-gc for memory figures)')

const kinds = [
  ['empty byte string', [0x40], 1],
  ['empty Uint8Array (tag 64)', [0xd8, 0x40, 0x40], 2],
  ['empty array', [0x80], 1],
  ['empty map', [0xa0], 1],
  ['empty text string', [0x60], 1],
  ['2-character text string', [0x62, 0x61, 0x62], 1],
  ['small integer', [0x01], 1],
  ['float64', [0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], 1],
  ['Date (tag 1)', [0xc1, 0x00], 2],
  ['empty Set (tag 258)', [0xd9, 0x01, 0x02, 0x80], 2],
  ['Error value (tag 27)', [0xd8, 0x1b, 0x82, 0x60, 0x60], 4 + ERROR_VALUE_ITEMS],
]

/** `[2, 1, "x", [[item × n]]]`: 6 items, then `perItem` for each copy. */
function frame(item, n) {
  const head = [0x84, 0x02, 0x01, 0x61, 0x78, 0x81, 0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
  const payload = new Uint8Array(head.length + n * item.length)
  payload.set(head)
  for (let i = 0; i < n; i++) payload.set(item, head.length + i * item.length)
  return payload
}

const memory = () => {
  gc?.()
  gc?.()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}

const codec = new Codec({ maxFrameItems: budget })
console.log(`Node ${process.version}; maxFrameItems ${budget}\n`)
console.log('item                           copies   wire bytes   held B/item   held MB    decode ms   refused (+1) ms')
for (const [label, item, perItem] of kinds) {
  const n = Math.floor((budget - 6) / perItem)
  const payload = frame(item, n)
  const before = memory()
  const t0 = process.hrtime.bigint()
  let message = codec.decode(payload)
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  const held = memory() - before
  message = undefined
  const over = frame(item, n + 1)
  const t1 = process.hrtime.bigint()
  let refused = 'accepted!'
  try {
    codec.decode(over)
  } catch (error) {
    refused = (Number(process.hrtime.bigint() - t1) / 1e6).toFixed(2)
    if (!/payload refused/.test(error.message)) refused = error.message
  }
  console.log(
    `${label.padEnd(28)} ${String(n).padStart(9)} ${String(payload.byteLength).padStart(12)} ${(held / n).toFixed(1).padStart(13)} ${(held / 1e6).toFixed(1).padStart(9)} ${ms.toFixed(0).padStart(12)} ${refused.padStart(17)}`,
  )
  if (message !== undefined) console.log('unreachable')
}
