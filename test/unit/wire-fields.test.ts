import { describe, expect, test } from 'vitest'
import { Codec } from '../../src/protocol/codec.js'
import { MessageType, peekId, peekMessageType, peekUint, type Message } from '../../src/protocol/messages.js'

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)
const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'))

/** `[2, <id bytes>, "x", []]`: a Call whose id is written as given. */
const call = (...id: number[]): Uint8Array => bytes(0x84, 0x02, ...id, 0x61, 0x78, 0x80)

describe('peekId: the id as the bytes wrote it', () => {
  test('an unsigned integer in every head size the profile allows is read', () => {
    expect(peekId(call(0x00))).toBe(0)
    expect(peekId(call(0x17))).toBe(23)
    expect(peekId(call(0x18, 0x18))).toBe(24)
    expect(peekId(call(0x19, 0x01, 0x00))).toBe(256)
    expect(peekId(call(0x1a, 0xff, 0xff, 0xff, 0xff))).toBe(2 ** 32 - 1)
    // Not in the shortest form, still an unsigned integer.
    expect(peekId(call(0x19, 0x00, 0x01))).toBe(1)
  })

  test('a float is not an id, even with an integral value: the decoded message cannot tell', () => {
    const codec = new Codec()
    const floats = {
      'float16 1.0': [0xf9, 0x3c, 0x00],
      'float32 1.0': [0xfa, 0x3f, 0x80, 0x00, 0x00],
      'float64 1.0': [0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
      'float64 2^53': [0xfb, 0x43, 0x40, 0, 0, 0, 0, 0, 0],
    }
    for (const [label, id] of Object.entries(floats)) {
      const payload = call(...id)
      // What the channel sees after decoding: an integral number, indistinguishable from a real id.
      const decoded = (codec.decode(payload) as unknown[])[1]
      expect(Number.isInteger(decoded), label).toBe(true)
      expect(peekId(payload), label).toBe(-1)
    }
  })

  test('negative, 8-byte, text, null, and missing ids are -1', () => {
    expect(peekId(call(0x20))).toBe(-1) // -1
    expect(peekId(call(0x1b, 0, 0, 0, 0, 0, 0, 0, 1))).toBe(-1) // 1 with an 8-byte argument: a BigInt
    expect(peekId(call(0x61, 0x31))).toBe(-1) // "1"
    expect(peekId(call(0xf6))).toBe(-1) // null
    expect(peekId(call(0xc1, 0x01))).toBe(-1) // tag 1
    expect(peekId(bytes(0x81, 0x09))).toBe(-1) // [9]: no id
    expect(peekId(bytes(0x82, 0x09))).toBe(-1) // truncated
    expect(peekId(bytes(0x82, 0x09, 0x19, 0x01))).toBe(-1) // truncated argument
  })

  test('a payload that is not a definite-length array, or whose type is not an unsigned integer, is -1', () => {
    expect(peekId(bytes())).toBe(-1)
    expect(peekId(bytes(0x9f, 0x02, 0x01, 0xff))).toBe(-1) // indefinite length
    expect(peekId(bytes(0xa2, 0x02, 0x01, 0x03, 0x04))).toBe(-1) // a map
    expect(peekId(bytes(0x82, 0xf9, 0x40, 0x00, 0x01))).toBe(-1) // type 2.0
    expect(peekId(bytes(0x82, 0x61, 0x32, 0x01))).toBe(-1) // type "2"
  })

  test('long arrays (a count in one to four bytes) and a type in a longer head are read', () => {
    const tail = new Array(22).fill(0xf6)
    expect(peekId(bytes(0x98, 24, 0x09, 0x05, ...tail))).toBe(5)
    expect(peekId(bytes(0x99, 0x00, 24, 0x09, 0x05, ...tail))).toBe(5)
    expect(peekId(bytes(0x9a, 0x00, 0x00, 0x00, 24, 0x09, 0x05, ...tail))).toBe(5)
    expect(peekId(bytes(0x82, 0x18, 0x09, 0x05))).toBe(5)
  })

  test('on every message this side encodes, it reads what the decoder reads', () => {
    const codec = new Codec()
    const envelope = { type: 'value' as const, value: 1 }
    const messages: Message[] = [
      [MessageType.Call, 7, 'add', [1, 2]],
      [MessageType.Result, 2 ** 31 - 1, 'r'],
      [MessageType.Error, 300, envelope],
      [MessageType.Cancel, 70_000, envelope],
      [MessageType.Progress, 24, 0.5],
      [MessageType.Item, 1, new Uint8Array(100_000)],
      [MessageType.End, 0],
      [MessageType.Credit, 9, 32],
      [MessageType.Ping, 2 ** 32 - 1],
      [MessageType.Pong, 5],
    ]
    for (const message of messages) {
      const payload = codec.encode(message)
      expect(peekMessageType(payload)).toBe(message[0])
      expect(peekId(payload)).toBe(message[1])
    }
    expect(peekUint(codec.encode([MessageType.Credit, 300, 70_000]), 2)).toBe(70_000)
    expect(peekUint(codec.encode([MessageType.Credit, 300, 1.5]), 2)).toBe(-1)
    expect(peekId(codec.encode([MessageType.Notify, 'log', []]))).toBe(-1)
  })
})

describe('peekMessageType', () => {
  test('reads a one-byte type after an array head of 1 to 23 elements, without decoding', () => {
    expect(peekMessageType(hex('85 00 6b 6970632d6368616e6e656c 01 f6 a0'))).toBe(MessageType.Hello)
    expect(peekMessageType(bytes(0x82, 0x0d, 0xf6))).toBe(MessageType.Goodbye)
    expect(peekMessageType(bytes(0x81, 0x17))).toBe(23)
  })

  test('anything else is -1', () => {
    for (const payload of [
      bytes(),
      bytes(0x80),
      bytes(0x81),
      bytes(0x81, 0x18, 0x02),
      bytes(0x98, 0x18, 0x00),
      bytes(0x9f, 0x00, 0xff),
      bytes(0x00),
      bytes(0x81, 0x20),
    ]) {
      expect(peekMessageType(payload)).toBe(-1)
    }
  })
})
