/**
 * The port messages of the `batch` feature (PROTOCOL.md section 2.2): several payloads in one post, and
 * binary values that travel beside the bytes instead of inside them: large ones copied once at most,
 * those transfer() marked transferred as they are.
 * Packing (what a post holds, what it transfers) and unpacking with every check a hostile peer calls
 * for. Part of the browser build: nothing here may import from `node:`.
 *
 * A batch is an Array: element 0 a Uint8Array of records, then the contents cut out of the payloads,
 * in order. A record is a 4-byte big-endian word, whose low 31 bits count the bytes that follow it and
 * whose high bit says that the payload goes on with the next content cut out, then the next record.
 */
import { setBytes } from '../protocol/bytes.js'
import { isWhole, joinPayload, payloadLength, type Payload } from '../protocol/framing.js'
import { isTransferable } from '../protocol/transfer.js'

/** The feature that announces batches, in the hello. */
export const BATCH_FEATURE = 'batch'

/** Payloads in one batch, at most. */
export const MAX_BATCH_PAYLOADS = 1024

/** Contents cut out of the payloads of one batch, at most. */
export const MAX_BATCH_APART = 1024

/** Chunks of this size or more travel apart from the records, in a buffer of their own. */
export const APART_FROM = 64 * 1024

/**
 * Records bytes a batch starts with at most, unless one payload needs more: a small value decoded from
 * a batch is a view of its records, and keeps all of them alive.
 */
const RECORDS_LIMIT = 256 * 1024

/**
 * Buffers this size or larger are transferred when the port can; smaller ones cloned. Measured over a
 * worker_threads port: a clone costs less up to a few KiB (1.7 against 2.4 µs a post at 40 bytes),
 * a transfer less beyond (at 16 KiB 6.1 against 7.9 µs; a clone copies twice, into the message and out).
 */
export const TRANSFER_FROM = 4096

const HEADER = 4
const CONTINUES = 0x80000000
const MAX_RECORD = 0x7fffffff

/** One postMessage: the data, and what to transfer with it. */
export interface Post {
  readonly data: Uint8Array | unknown[]
  readonly transfer: ArrayBuffer[]
}

/**
 * The chunks of `payload` that travel apart: the large ones, and those transfer() asked to hand over
 * when the port can. None when a payload has more than a batch
 * may carry: it is copied whole.
 */
function apartChunks(payload: Payload, canTransfer: boolean): number {
  if (isWhole(payload)) return 0
  let count = 0
  for (const chunk of payload) if (travelsApart(chunk, canTransfer)) count++
  return count > MAX_BATCH_APART ? -1 : count
}

function travelsApart(chunk: Uint8Array, canTransfer: boolean): boolean {
  return chunk.length >= APART_FROM || (canTransfer && isTransferable(chunk))
}

/** Whether `bytes` is a view of the whole of an ArrayBuffer (not a SharedArrayBuffer, which a clone does not copy). */
function spansBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.buffer instanceof ArrayBuffer && bytes.byteLength === bytes.buffer.byteLength
}

/** A copy of `bytes` in an ArrayBuffer of its own. (`slice` would not do: on a Buffer it is a view.) */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const owned = new Uint8Array(bytes.length)
  setBytes(owned, bytes)
  return owned
}

/** Payloads up to this size are posted from a buffer kept for their size; see postedCopy. */
export const KEPT_MAX = 256

/** One buffer per payload size up to KEPT_MAX, made on first use (about 32 KiB in all at most). */
const kept: (Uint8Array<ArrayBuffer> | undefined)[] = []

/** Zeros that clear a kept buffer (see clearPosted): a view of `size` of them per kept size, made with it. */
const zeros = new ArrayBuffer(KEPT_MAX)
const zeroViews: (Uint8Array | undefined)[] = []

/**
 * A copy of a small whole payload, in a buffer of exactly its size that is used again for the next
 * payload of that size: valid only until the next call, so the caller posts it at once, and only on
 * the platform's own MessagePort, whose postMessage clones what it is given before it returns (a
 * wrapper might keep it, or transfer it). A fresh buffer per post costs the receiving heap nothing but
 * costs this one an ArrayBuffer to make and, at the next collection, to sweep: measured over a
 * worker_threads port, one call at a time, that sweeping was a fifth of each scavenge.
 */
export function postedCopy(payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const size = payload.length
  let bytes = kept[size]
  // Made again if something detached it (a port that transferred it after all).
  if (bytes === undefined || bytes.length !== size) {
    kept[size] = bytes = new Uint8Array(new ArrayBuffer(size))
    zeroViews[size] ??= new Uint8Array(zeros, 0, size)
  }
  setBytes(bytes, payload)
  return bytes
}

/**
 * Clears a buffer postedCopy returned, once posted, so that no message (a handshake proof) stays in
 * memory after it. Zeros are copied in rather than written by `fill`: `set` is a builtin of V8's own,
 * `fill` a call into its runtime, which cost about four times as much in a round trip over a port.
 */
export function clearPosted(bytes: Uint8Array): void {
  setBytes(bytes, zeroViews[bytes.length]!)
}

/** The buffer kept for payloads of `size` bytes, if one was made: for tests. */
export function keptFor(size: number): Uint8Array | undefined {
  return kept[size]
}

/**
 * One payload as a post of version 1: a Uint8Array in a buffer of its own, which a clone would copy
 * whole (a view of the codec's shared buffer would show the peer everything else in it).
 */
export function single(payload: Payload, canTransfer: boolean): Post {
  // Chunks are joined into a new buffer; a whole payload is copied into one.
  const bytes = (isWhole(payload) ? copy(payload) : joinPayload(payload)) as Uint8Array<ArrayBuffer>
  return { data: bytes, transfer: canTransfer && bytes.length >= TRANSFER_FROM ? [bytes.buffer] : [] }
}

/**
 * The posts that carry `payloads`, in order: a lone payload with nothing apart as a plain Uint8Array,
 * anything else as batches within the bounds above.
 */
export function pack(payloads: readonly Payload[], canTransfer: boolean): Post[] {
  const posts: Post[] = []
  let from = 0
  let records = 0
  let apart = 0
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i]
    const cut = apartChunks(payload, canTransfer)
    const bytes = recordBytes(payload, cut, canTransfer)
    const count = i - from
    if (count > 0 && (count === MAX_BATCH_PAYLOADS || records + bytes > RECORDS_LIMIT || apart + Math.max(cut, 0) > MAX_BATCH_APART)) {
      posts.push(batch(payloads, from, i, records, canTransfer))
      from = i
      records = apart = 0
    }
    records += bytes
    apart += Math.max(cut, 0)
  }
  if (from < payloads.length) posts.push(batch(payloads, from, payloads.length, records, canTransfer))
  return posts
}

/** Bytes `payload` takes in the records: what does not travel apart, and a header per record. */
function recordBytes(payload: Payload, cut: number, canTransfer: boolean): number {
  if (cut <= 0) return HEADER + payloadLength(payload)
  let bytes = HEADER * (cut + 1)
  for (const chunk of payload as readonly Uint8Array[]) if (!travelsApart(chunk, canTransfer)) bytes += chunk.length
  return bytes
}

function batch(payloads: readonly Payload[], from: number, to: number, size: number, canTransfer: boolean): Post {
  if (to - from === 1 && apartChunks(payloads[from], canTransfer) <= 0) return single(payloads[from], canTransfer)
  const records = new Uint8Array(size)
  const data: unknown[] = [records]
  const transfer: ArrayBuffer[] = []
  let at = 0
  for (let i = from; i < to; i++) {
    const payload = payloads[i]
    let header = at
    at += HEADER
    let segment = at
    const whole = apartChunks(payload, canTransfer) <= 0
    for (const chunk of isWhole(payload) ? [payload] : payload) {
      if (whole || !travelsApart(chunk, canTransfer)) {
        setBytes(records, chunk, at)
        at += chunk.length
        continue
      }
      writeWord(records, header, (at - segment + CONTINUES) >>> 0)
      data.push(apartValue(chunk, canTransfer, transfer))
      header = at
      at += HEADER
      segment = at
    }
    if (at - segment > MAX_RECORD) throw new RangeError('a payload of 2 GiB or more cannot be batched')
    writeWord(records, header, at - segment)
  }
  if (canTransfer && records.length >= TRANSFER_FROM) transfer.push(records.buffer)
  return { data, transfer }
}

/**
 * A chunk that travels apart: one whose buffer transfer() listed as it is, its buffer transferred (no
 * copy: a view arrives as a view of the whole buffer); any other copied into a buffer of its own,
 * which is transferred (one copy), or cloned when the port cannot transfer (then a chunk that is its
 * whole buffer goes as it is: the clone is the copy).
 */
function apartValue(chunk: Uint8Array, canTransfer: boolean, transfer: ArrayBuffer[]): Uint8Array {
  if (!canTransfer) return spansBuffer(chunk) ? chunk : copy(chunk)
  if (isTransferable(chunk)) {
    // A buffer appears once in a transfer list, however many values of the batch it holds.
    const buffer = chunk.buffer as ArrayBuffer
    if (!transfer.includes(buffer)) transfer.push(buffer)
    return chunk
  }
  const owned = copy(chunk)
  transfer.push(owned.buffer)
  return owned
}

function writeWord(target: Uint8Array, at: number, value: number): void {
  target[at] = value >>> 24
  target[at + 1] = (value >>> 16) & 0xff
  target[at + 2] = (value >>> 8) & 0xff
  target[at + 3] = value & 0xff
}

/**
 * The payloads of a batch, each a view of the records or, with contents apart, pieces alternating
 * between the two; or what is wrong with it.
 */
export function unpack(batch: readonly unknown[], maxFrameSize: number): Payload[] | string {
  const records = batch[0]
  if (!(records instanceof Uint8Array)) return 'a batch does not start with a Uint8Array'
  if (batch.length - 1 > MAX_BATCH_APART) return `a batch carries ${batch.length - 1} contents apart, more than ${MAX_BATCH_APART}`
  for (let i = 1; i < batch.length; i++) if (!(batch[i] instanceof Uint8Array)) return `element ${i} of a batch is not a Uint8Array`
  const end = records.length
  const payloads: Payload[] = []
  let next = 1
  let at = 0
  while (at < end) {
    if (payloads.length === MAX_BATCH_PAYLOADS) return `a batch carries more than ${MAX_BATCH_PAYLOADS} payloads`
    const pieces: Uint8Array[] = []
    let total = 0
    for (;;) {
      if (end - at < HEADER) return 'a record header runs past the end of a batch'
      const word = ((records[at] << 24) | (records[at + 1] << 16) | (records[at + 2] << 8) | records[at + 3]) >>> 0
      const length = word & MAX_RECORD
      at += HEADER
      if (length > end - at) return `a record of ${length} bytes runs past the end of a batch`
      pieces.push(records.subarray(at, (at += length)))
      total += length
      if (word < CONTINUES) break
      if (next === batch.length) return 'a record goes on past the last content of a batch'
      const content = batch[next++] as Uint8Array
      pieces.push(content)
      total += content.length
      // Checked as it grows: a payload's pieces are never all gathered before its size is known.
      if (total > maxFrameSize) break
    }
    if (total === 0) return 'a batch carries an empty payload'
    if (total > maxFrameSize) return `a payload of ${total} bytes or more exceeds maxFrameSize (${maxFrameSize})`
    payloads.push(pieces.length === 1 ? pieces[0] : pieces)
  }
  if (payloads.length === 0) return 'a batch carries no payload'
  if (next !== batch.length) return `a batch carries ${batch.length - next} contents apart that no record uses`
  return payloads
}
