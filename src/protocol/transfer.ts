/**
 * `transfer()`: the opt-in that lets a message port hand the memory of a binary value to the peer
 * instead of copying it. It owns the marks: the ArrayBuffers listed and not yet sent, and the chunks
 * the codec cut out of a payload because their buffer was listed. The codec reads the first, a port
 * transport the second; everything else ignores both. Part of the browser build: no `node:` import.
 */

/** Buffers listed in a {@link transfer} call and not yet sent. */
const listed = new WeakSet<ArrayBuffer>()

/**
 * How many buffers were listed and not yet sent (an upper bound: one that is collected unsent stays
 * counted). While it is 0, the encoder does not look at the buffer behind a byte string at all: on a
 * small Uint8Array, reading `.buffer` makes V8 move its bytes out of the heap.
 */
export let pendingTransfers = 0

/** Chunks of encoded payloads whose ArrayBuffer a port should transfer rather than copy. */
const transferable = new WeakSet<Uint8Array>()

/**
 * Marks the ArrayBuffers behind binary values of `value` to be transferred, not copied, when `value`
 * is sent over a message port: as an argument, a result, a stream item or a progress value. Returns
 * `value` itself, so that it wraps the value where it is passed, as Comlink's `transfer()` does:
 *
 * ```ts
 * const pixels = new Uint8Array(16 * 1024 * 1024)
 * await channel.rpc('blur', transfer(pixels)) // pixels.byteLength is 0 from here on
 * channel.expose('blur', (pixels: Uint8Array) => transfer(blurInPlace(pixels)))
 * ```
 *
 * Over a worker_threads or DOM `MessagePort` (or `Worker`) whose peer supports batches (this
 * version), each listed buffer that holds a binary value of the message (a `Uint8Array`, `Buffer`,
 * other typed array or `ArrayBuffer`, in plain arrays and objects) moves to the receiving side when
 * the message leaves (when the port message being handled has been, else at the end of the current
 * task; or at once when the messages waiting to leave
 * reach 8 KiB or 32, as a message that carries a large buffer does): on this side it is
 * **detached**, its `byteLength` 0 along with every view of it. The receiver gets the memory itself,
 * uncopied; a view that did not span its whole buffer arrives as a view of the whole buffer,
 * transferred with it. Do not use a buffer after sending it marked.
 *
 * Everywhere else the value is sent as it would be without `transfer()`, copied, and the buffer stays
 * usable: over sockets, pipes and streams (bytes are written, nothing can be transferred), over
 * Electron's `MessagePortMain` (it transfers only ports), and to a peer that does not support batches.
 * A listed buffer that holds no binary value of the message is not touched. A mark is used by the
 * first message that carries the buffer, wherever it goes.
 *
 * @param value what to send; returned as it is.
 * @param transferables the ArrayBuffers to hand over (`bytes.buffer`, as for `postMessage`). By default, when `value` is itself an
 *   `ArrayBuffer` or a view (a `Uint8Array`, a `Buffer`, another typed array), its buffer.
 * @throws TypeError when `transferables` is missing for another value, or lists something that is not
 *   an `ArrayBuffer` (a `SharedArrayBuffer` is shared, never transferred; ports are not carried).
 */
export function transfer<T>(value: T, transferables?: readonly ArrayBufferLike[]): T {
  const buffers = transferables ?? defaultTransferables(value)
  for (const buffer of buffers) {
    if (!(buffer instanceof ArrayBuffer)) throw new TypeError('transfer() takes ArrayBuffers to transfer, and nothing else')
  }
  for (const buffer of buffers as readonly ArrayBuffer[]) {
    if (listed.has(buffer)) continue
    listed.add(buffer)
    pendingTransfers++
  }
  return value
}

function defaultTransferables(value: unknown): readonly ArrayBufferLike[] {
  if (value instanceof ArrayBuffer) return [value]
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) return [value.buffer]
  throw new TypeError('transfer(value) without a list takes an ArrayBuffer or a view of one; list the ArrayBuffers to transfer')
}

/**
 * Whether the buffer behind `bytes` is listed for transfer. Only called while {@link pendingTransfers}
 * is above 0. An empty value has nothing to hand over (and a detached one is empty).
 */
export function isListed(bytes: Uint8Array): boolean {
  return bytes.byteLength > 0 && listed.has(bytes.buffer as ArrayBuffer)
}

/**
 * The chunk the codec cuts out of a payload for `bytes`, whose buffer is listed: a view of the same
 * memory that a port transfers. A new view, so that the mark belongs to this payload only, not to the
 * application's value, which may be sent again elsewhere.
 */
export function transferableChunk(bytes: Uint8Array): Uint8Array {
  const chunk = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  transferable.add(chunk)
  return chunk
}

/** Whether a port should transfer `chunk`'s buffer rather than copy it. */
export function isTransferable(chunk: Uint8Array): boolean {
  return transferable.has(chunk)
}

/**
 * A message that carries listed buffers was encoded: their marks are used up, so that a buffer that
 * went over a socket (copied) is not transferred by a later message over a port.
 */
export function useMarks(payload: readonly Uint8Array[]): void {
  for (const chunk of payload) {
    if (!transferable.has(chunk)) continue
    if (listed.delete(chunk.buffer as ArrayBuffer)) pendingTransfers--
  }
}
