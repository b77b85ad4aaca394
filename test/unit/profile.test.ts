import { describe, expect, test } from 'vitest'
import { Codec } from '../../src/protocol/codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { checkProfile, MAX_NESTING } from '../../src/protocol/profile.js'

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

function rejection(payload: Uint8Array): string {
  try {
    checkProfile(payload)
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    return (error as Error).message
  }
  throw new Error('accepted')
}

describe('the CBOR profile check', () => {
  test('accepts everything this side encodes', () => {
    const codec = new Codec()
    const value = [
      2,
      7,
      'add',
      [
        1,
        -1,
        2 ** 40,
        1.5,
        -0,
        10n,
        2n ** 70n,
        -(2n ** 70n),
        'text',
        new Uint8Array([1, 2]),
        Buffer.from('buf'),
        new Float64Array([1.5]),
        new Date(0),
        new Map<unknown, unknown>([[1, 'one']]),
        new Set([1]),
        { nested: { deep: [null, undefined, true, false] } },
        new Error('as a value'),
        /re/g,
      ],
    ]
    expect(() => checkProfile(codec.encode(value as never))).not.toThrow()
  })

  test('an array declaring more elements than bytes remain is refused before cbor-x allocates it', () => {
    // A 4-billion-element array in six bytes.
    expect(rejection(bytes(0x9a, 0xff, 0xff, 0xff, 0xff, 0x00))).toMatchInlineSnapshot(
      `"malformed CBOR payload: more elements declared than bytes remain"`,
    )
  })

  test('value-sharing tags 28 and 29 are refused: a peer cannot build cycles', () => {
    expect(rejection(bytes(0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00))).toMatchInlineSnapshot(`"malformed CBOR payload: tag 28 is not allowed"`)
  })

  test('tag 27 may not name an Object.prototype member', () => {
    // 27(["constructor", "x"])
    const name = [...Buffer.from('constructor')]
    expect(rejection(bytes(0xd8, 0x1b, 0x82, 0x60 + name.length, ...name, 0x61, 0x78))).toMatchInlineSnapshot(
      `"malformed CBOR payload: tag 27 name "constructor""`,
    )
  })

  test('indefinite lengths, a lone break and trailing bytes are refused', () => {
    expect(rejection(bytes(0x9f, 0x01, 0xff))).toMatch(/indefinite/)
    expect(rejection(bytes(0xff))).toMatch(/indefinite length or break/)
    expect(rejection(bytes(0x01, 0x02))).toMatch(/bytes after the end/)
    expect(rejection(bytes(0x82, 0x01))).toMatch(/truncated|more elements/)
  })

  test('nesting deeper than the limit is refused without recursion', () => {
    const deep = new Uint8Array(MAX_NESTING + 2).fill(0x81)
    deep[deep.length - 1] = 0x00
    expect(rejection(deep)).toMatch(/nested too deeply/)
  })
})
