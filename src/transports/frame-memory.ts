/**
 * The memory a byte-stream transport copies frames into, and the one hint it gives the C allocator
 * for large frames (glibc's dynamic thresholds, below).
 */

/**
 * A frame from this size on primes the allocator, once per process. Only large frames are assembled
 * in a buffer of their own as they arrive (framing.ts, ASSEMBLE_MIN, also 1 MiB).
 */
const PRIME_MIN = 1024 * 1024

/**
 * What is allocated and let go, never written: just under 32 MiB, glibc's largest dynamic mmap
 * threshold on 64-bit systems, less room for its chunk header and page rounding.
 */
const PRIME_SIZE = 32 * 1024 * 1024 - 64 * 1024

let primed = false

/**
 * Makes the buffer a frame is copied into. Not zeroed: every byte of it is then written.
 *
 * Why the priming: glibc serves a large `malloc` with a fresh mapping until the process frees one,
 * and then raises its mmap threshold to that size and its trim threshold to twice it. A large frame
 * costs its size twice in the heap, its buffer and the socket's 64 KiB read buffers it was copied
 * from, and both are freed by the same collection. So after a 16 MiB frame the heap's free top is
 * just over the 32 MiB trim threshold, glibc hands it back to the kernel, and the next frame faults
 * every page of it in again: 8,200 faults at about 16 µs each on some machines, most of a 16 MiB
 * echo. The first large frame therefore also allocates one buffer of PRIME_SIZE and drops it. Never
 * touched, it costs address space only; freed, it raises glibc's thresholds as freeing a frame of
 * that size would (to 32 and 64 MiB), so the memory of frames up to 32 MiB is reused. At most 64 MiB
 * of freed heap is then kept rather than returned. Other allocators ignore it, and so does glibc when
 * `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_` or their tunables are set (fixed thresholds).
 */
export function allocateFrame(length: number): Uint8Array {
  if (!primed && length >= PRIME_MIN) {
    primed = true
    try {
      Buffer.allocUnsafeSlow(PRIME_SIZE)
    } catch {
      // A hint only: where the address space is too tight for it, frames are served as before.
    }
  }
  return Buffer.allocUnsafeSlow(length)
}
