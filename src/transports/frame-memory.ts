/**
 * The memory a byte-stream transport copies frames into, and the one hint it gives the C allocator
 * for large frames (glibc's dynamic thresholds, below).
 */

/**
 * A frame from this size on primes the allocator, once per module instance (the process, or each
 * worker thread that loads the library). Only large frames are assembled in a buffer of their own as
 * they arrive (framing.ts, ASSEMBLE_MIN, also 1 MiB).
 */
export const PRIME_MIN = 1024 * 1024

/**
 * What is allocated and let go, never written: under 32 MiB, glibc's largest dynamic mmap threshold
 * on 64-bit systems, by enough that its chunk (the request, its header, rounded up to a page) stays
 * under it with pages of up to 64 KiB.
 */
const PRIME_SIZE = 32 * 1024 * 1024 - 128 * 1024

/** Where glibc's 64-bit thresholds can apply: 64-bit Linux, and not turned off by the application. */
const primable =
  process.platform === 'linux' &&
  ['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'].includes(process.arch) &&
  process.env.IPC_CHANNEL_MALLOC_PRIMING !== '0'

let primed = !primable

/**
 * Makes the buffer a frame is copied into. Not zeroed: every byte of it is then written.
 *
 * Why the priming: glibc serves a large `malloc` with a fresh mapping until the process frees one,
 * and then raises its mmap threshold to that size and its trim threshold to twice it. A large frame
 * costs its size twice in the heap, its buffer and the socket's 64 KiB read buffers it was copied
 * from, and both are freed by the same collection. So after a 16 MiB frame the free top of the heap
 * reached the 33.56 MB trim threshold, glibc handed it back to the kernel, and the next frame faulted
 * every page of it in again: 8,200 faults at about 16 µs each on some machines, most of a 16 MiB
 * echo. The first large frame therefore also allocates one buffer of PRIME_SIZE and drops it: the
 * same as the application once freeing a Buffer of that size. Never touched, it costs address space
 * until the next collection. Freed, it raises glibc's thresholds to about 32 and 64 MiB, so the
 * memory of frames up to 32 MiB is reused.
 *
 * What that changes for the whole process, for its lifetime: glibc serves every allocation up to
 * about 32 MiB from its heaps, and keeps up to about 64 MiB free at the top of each heap (each thread
 * arena has its own) rather than returning it; freed memory below live data is kept in any case. It
 * does nothing where glibc's thresholds are fixed (`MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`,
 * `MALLOC_MMAP_THRESHOLD_`, `MALLOC_MMAP_MAX_`, their tunables, or `mallopt` from native code), with
 * another allocator, or off 64-bit Linux (not attempted there). `IPC_CHANNEL_MALLOC_PRIMING=0` in
 * the environment turns it off.
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
