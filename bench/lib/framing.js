/**
 * Byte-stream framing for the hand-written contenders: 4-byte big-endian length prefix (the same
 * framing ipc-channel uses), and newline-delimited lines for the JSON-lines contender.
 */

/** Payloads up to this size are copied behind their header into one buffer, as ipc-channel does. */
const COPY_LIMIT = 64 * 1024

/**
 * Reads length-prefixed frames from `socket` and calls `onFrame(payload)` for each, in order. A frame
 * inside one chunk is handed out as a view; a frame that spans chunks is concatenated once, when it is
 * complete, so a 16 MiB frame arriving in 64 KiB chunks costs one copy, not a quadratic number.
 */
export function readFrames(socket, onFrame) {
  let chunks = []
  let buffered = 0
  /** Bytes needed before parsing is worth trying: 4 for a header, else header + payload. */
  let needed = 4

  const parse = (buffer) => {
    let offset = 0
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32BE(offset)
      if (buffer.length - offset - 4 < length) {
        needed = 4 + length
        return buffer.subarray(offset)
      }
      onFrame(buffer.subarray(offset + 4, offset + 4 + length))
      offset += 4 + length
    }
    needed = 4
    return offset === buffer.length ? undefined : buffer.subarray(offset)
  }

  socket.on('data', (chunk) => {
    if (buffered === 0) {
      const rest = parse(chunk)
      if (rest) {
        chunks = [rest]
        buffered = rest.length
      }
      return
    }
    chunks.push(chunk)
    buffered += chunk.length
    if (buffered < needed) return
    const whole = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered)
    const rest = parse(whole)
    chunks = rest ? [rest] : []
    buffered = rest ? rest.length : 0
  })
}

function writeOne(socket, payload) {
  const length = payload.byteLength
  if (length <= COPY_LIMIT) {
    const frame = Buffer.allocUnsafe(4 + length)
    frame.writeUInt32BE(length, 0)
    frame.set(payload, 4)
    return socket.write(frame)
  }
  // Large payloads are not copied: header and payload leave as two chunks of one writev.
  const header = Buffer.allocUnsafe(4)
  header.writeUInt32BE(length, 0)
  socket.cork()
  socket.write(header)
  const ok = socket.write(payload)
  socket.uncork()
  return ok
}

/** One `write()` (one syscall) per frame: no coalescing. */
export function plainFrameWriter(socket) {
  return (payload) => writeOne(socket, payload)
}

/** Frames written in one tick are corked and leave in one writev when the tick ends. */
export function coalescingFrameWriter(socket) {
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  return (payload) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    const length = payload.byteLength
    if (length <= COPY_LIMIT) {
      const frame = Buffer.allocUnsafe(4 + length)
      frame.writeUInt32BE(length, 0)
      frame.set(payload, 4)
      return socket.write(frame)
    }
    const header = Buffer.allocUnsafe(4)
    header.writeUInt32BE(length, 0)
    socket.write(header)
    return socket.write(payload)
  }
}

/**
 * Frames written in one tick are copied back to back into one buffer and leave in one write when the
 * tick ends (large payloads go uncopied, after what is batched): the fewest syscalls and iovecs a
 * framed stream can have.
 */
export function batchingFrameWriter(socket) {
  let batch = Buffer.allocUnsafe(64 * 1024)
  let end = 0
  let scheduled = false
  const flush = () => {
    scheduled = false
    if (end === 0) return
    socket.write(batch.subarray(0, end))
    batch = Buffer.allocUnsafe(64 * 1024)
    end = 0
  }
  return (payload) => {
    const length = payload.byteLength
    if (length > COPY_LIMIT || end + 4 + length > batch.length) {
      flush()
      if (length > COPY_LIMIT) return writeOne(socket, payload)
    }
    batch.writeUInt32BE(length, end)
    batch.set(payload, end + 4)
    end += 4 + length
    if (!scheduled) {
      scheduled = true
      process.nextTick(flush)
    }
    return !socket.writableNeedDrain
  }
}

/** Splits a socket's bytes on `\n` and calls `onLine(string)` per line (UTF-8). */
export function readLines(socket, onLine) {
  let parts = []
  socket.on('data', (chunk) => {
    let start = 0
    let index
    while ((index = chunk.indexOf(10, start)) !== -1) {
      const piece = chunk.subarray(start, index)
      const line = parts.length === 0 ? piece.toString('utf8') : Buffer.concat([...parts, piece]).toString('utf8')
      parts = []
      start = index + 1
      onLine(line)
    }
    if (start < chunk.length) parts.push(start === 0 ? chunk : chunk.subarray(start))
  })
}

/** Uint8Array to base64, for the contenders that speak JSON. */
export function toBase64(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** Base64 back to bytes (a Buffer, which is a Uint8Array). */
export function fromBase64(text) {
  return Buffer.from(text, 'base64')
}

/** An argument carried as it is: bytes as bytes, the record by a codec that has a Date. */
export const unchanged = { encode: (value) => value, decode: (value) => value }

/**
 * How a contender that speaks JSON carries the argument of `scenario`, as an application would: bytes
 * as a base64 string, the structured record as it is (its Date leaves as an ISO string and comes back
 * as one: JSON has no Date).
 */
export function jsonArgument(scenario) {
  return scenario === 'structured' ? unchanged : { encode: toBase64, decode: fromBase64 }
}

/**
 * A JSON contender's `call` from its `send(value) -> Promise`, carrying the argument as
 * `jsonArgument` says; with the record, `send` itself, so that no step is added to its calls.
 */
export function jsonCall(scenario, send) {
  return scenario === 'structured' ? send : (bytes) => send(toBase64(bytes)).then(fromBase64)
}
