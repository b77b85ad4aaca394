/**
 * An equality tester for byte arrays, for test files that compare large ones with toEqual: Vitest's
 * own equality walks them an element at a time and then compares their entries, about 10 µs a byte.
 * This one reaches the same verdict for 8-bit arrays by comparing their bytes at once.
 */
import { expect } from 'vitest'

type Tester = Parameters<typeof expect.addEqualityTesters>[0][number]

type ByteArray = Uint8Array | Int8Array | Uint8ClampedArray

// Only 8-bit arrays: in wider ones equal elements can differ in their bytes (NaN) or the other way
// round (0 and -0), so a byte comparison would not be the same verdict.
function isByteArray(value: unknown): value is ByteArray {
  return value instanceof Uint8Array || value instanceof Int8Array || value instanceof Uint8ClampedArray
}

function bytesOf(array: ByteArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
}

/** As Vitest's iterable equality decides for these arrays: the same class, the same elements, then the same own properties. */
export const equalBytes: Tester = function (a, b, customTesters) {
  if (!isByteArray(a) || !isByteArray(b)) return undefined
  if (a.constructor !== b.constructor || a.length !== b.length) return false
  if (Buffer.compare(bytesOf(a), bytesOf(b)) !== 0) return false
  return this.equals(namedEntries(a), namedEntries(b), customTesters)
}

/** The own enumerable properties besides the elements: they are listed after the indices. */
function namedEntries(array: ByteArray): [string, unknown][] {
  return Object.keys(array)
    .slice(array.length)
    .map((key) => [key, (array as unknown as Record<string, unknown>)[key]])
}
