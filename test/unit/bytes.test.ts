import { describe, expect, test } from 'vitest'
import { bufferOf, byteLengthOf, byteOffsetOf, setBytes } from '../../src/protocol/bytes.js'

// The hot paths call these in place of the typed-array methods and getters: they must behave as those do.
describe('typed-array methods as plain functions', () => {
  const buffer = new ArrayBuffer(16)
  const view = new Uint8Array(buffer, 4, 8)

  test('setBytes copies at an offset, and throws past the end as set() does', () => {
    const target = new Uint8Array(6)
    setBytes(target, new Uint8Array([1, 2, 3]), 2)
    expect([...target]).toEqual([0, 0, 1, 2, 3, 0])
    expect(() => setBytes(target, new Uint8Array(5), 2)).toThrow(RangeError)
  })

  test('the getters read the view, whatever its class', () => {
    expect(bufferOf(view)).toBe(buffer)
    expect(byteOffsetOf(view)).toBe(4)
    expect(byteLengthOf(view)).toBe(8)
    const floats = new Float64Array(buffer, 8, 1)
    expect([bufferOf(floats), byteOffsetOf(floats), byteLengthOf(floats)]).toEqual([buffer, 8, 8])
  })

  test('they refuse what is not a typed array, as the methods do', () => {
    expect(() => byteOffsetOf(new DataView(buffer))).toThrow(TypeError)
    expect(() => setBytes({} as Uint8Array, [1])).toThrow(TypeError)
  })
})
