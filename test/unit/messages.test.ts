import { describe, expect, test } from 'vitest'
import { ProtocolError } from '../../src/core/errors.js'
import { Codec } from '../../src/protocol/codec.js'
import {
  MAGIC,
  MESSAGE_NAMES,
  MessageType,
  PROTOCOL_VERSION,
  isHandshakeMessage,
  isId,
  parseMessage,
  peekMessageType,
} from '../../src/protocol/messages.js'

const codec = new Codec()

/** What parseMessage throws for `decoded`; fails the test when it does not throw a ProtocolError. */
function refusal(decoded: unknown): string {
  try {
    parseMessage(decoded)
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as ProtocolError).code).toBe('ERR_PROTOCOL')
    return (error as Error).message
  }
  throw new Error(`parseMessage accepted ${String(decoded)}`)
}

describe('parseMessage', () => {
  test('returns a well-formed message as it is', () => {
    const messages: unknown[][] = [
      [MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, {}],
      [MessageType.Auth, new Uint8Array(32)],
      [MessageType.Call, 1, 'name', []],
      [MessageType.Call, 0, '', [1, 2, 3]],
      [MessageType.Notify, 'name', ['x']],
      [MessageType.Result, 2, undefined],
      [MessageType.Error, 3, { type: 'error', name: 'Error', message: 'm' }],
      [MessageType.Cancel, 4, { type: 'value', value: 1 }],
      [MessageType.Progress, 5, 0.5],
      [MessageType.Item, 6, 'item'],
      [MessageType.End, 7],
      [MessageType.Credit, 8, 0],
      [MessageType.Ping, 2 ** 32 - 1],
      [MessageType.Pong, 10],
      [MessageType.Goodbye, null],
    ]
    for (const message of messages) expect(parseMessage(message)).toBe(message)
  })

  test('ignores elements beyond those defined', () => {
    const message = [MessageType.Result, 1, 'value', 'extra', { more: true }]
    expect(parseMessage(message)).toBe(message)
  })

  test('leaves hello, auth, pong and goodbye unchecked beyond their type', () => {
    for (const message of [
      [MessageType.Hello],
      [MessageType.Auth, 'x'],
      [MessageType.Pong, -1],
      [MessageType.Pong, 'token'],
      [MessageType.Goodbye, 42],
    ]) {
      expect(parseMessage(message)).toBe(message)
    }
  })

  test('a value that is not an array starting with a number', () => {
    for (const decoded of [undefined, null, 2, 'call', { 0: 2 }, [], ['2'], [null, 1], [2n, 1, 'f', []], [true]]) {
      expect(refusal(decoded)).toBe('a message must be an array starting with its type')
    }
  })

  test('an unknown message type', () => {
    expect(refusal([18])).toBe('unknown message type 18')
    expect(refusal([23, 1])).toBe('unknown message type 23')
    expect(refusal([-1])).toBe('unknown message type -1')
    expect(refusal([2.5, 1, 'f', []])).toBe('unknown message type 2.5')
    expect(refusal([Number.NaN])).toBe('unknown message type NaN')
  })

  test('a malformed call', () => {
    const bad = [
      [MessageType.Call],
      [MessageType.Call, -1, 'f', []],
      [MessageType.Call, 1.5, 'f', []],
      [MessageType.Call, '1', 'f', []],
      [MessageType.Call, 1n, 'f', []],
      [MessageType.Call, 1, 7, []],
      [MessageType.Call, 1, 'f'],
      [MessageType.Call, 1, 'f', { 0: 'a' }],
      [MessageType.Call, 1, 'f', 'args'],
    ]
    for (const message of bad) expect(refusal(message)).toBe('malformed call message')
  })

  test('a malformed notify', () => {
    for (const message of [[MessageType.Notify], [MessageType.Notify, 1, []], [MessageType.Notify, 'f'], [MessageType.Notify, 'f', null]]) {
      expect(refusal(message)).toBe('malformed notify message')
    }
  })

  test('a malformed credit', () => {
    for (const message of [
      [MessageType.Credit, 1],
      [MessageType.Credit, -1, 1],
      [MessageType.Credit, 1, -1],
      [MessageType.Credit, 1, 0.5],
      [MessageType.Credit, 1, 2n],
    ]) {
      expect(refusal(message)).toBe('malformed credit message')
    }
  })

  test.each([
    [MessageType.Result, 'result'],
    [MessageType.Error, 'error'],
    [MessageType.Cancel, 'cancel'],
    [MessageType.Progress, 'progress'],
    [MessageType.Item, 'item'],
    [MessageType.End, 'end'],
    [MessageType.Ping, 'ping'],
  ])('type %i without an unsigned integer id: "malformed %s message"', (type, name) => {
    for (const id of [undefined, -1, 0.5, '1', null, 1n, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(refusal([type, id, 'value'])).toBe(`malformed ${name} message`)
    }
  })

  test('on decoded bytes: an 8-byte integer decodes to a BigInt and is not an id', () => {
    const pingWithBigToken = new Uint8Array([0x82, 0x0b, 0x1b, 0, 0, 0, 0, 0, 0, 0, 5])
    expect(refusal(codec.decode(pingWithBigToken))).toBe('malformed ping message')
    const pingWithSmallToken = new Uint8Array([0x82, 0x0b, 0x1a, 0, 0, 0, 5])
    expect(parseMessage(codec.decode(pingWithSmallToken))).toEqual([MessageType.Ping, 5])
    const pingWithNegativeToken = new Uint8Array([0x82, 0x0b, 0x20])
    expect(refusal(codec.decode(pingWithNegativeToken))).toBe('malformed ping message')
  })

  test('the texts are pinned', () => {
    expect(() => parseMessage({})).toThrowErrorMatchingInlineSnapshot(`[ProtocolError: a message must be an array starting with its type]`)
    expect(() => parseMessage([99])).toThrowErrorMatchingInlineSnapshot(`[ProtocolError: unknown message type 99]`)
    expect(() => parseMessage([MessageType.Call, 1, 'f', null])).toThrowErrorMatchingInlineSnapshot(`[ProtocolError: malformed call message]`)
    expect(() => parseMessage([MessageType.Notify, null, []])).toThrowErrorMatchingInlineSnapshot(`[ProtocolError: malformed notify message]`)
    expect(() => parseMessage([MessageType.Credit, 1, null])).toThrowErrorMatchingInlineSnapshot(`[ProtocolError: malformed credit message]`)
    expect(() => parseMessage([MessageType.End, null])).toThrowErrorMatchingInlineSnapshot(`[ProtocolError: malformed end message]`)
  })
})

describe('peekMessageType', () => {
  test('reads the type of every encoded message without decoding it', () => {
    const messages: unknown[][] = [
      [MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, {}],
      [MessageType.Auth, new Uint8Array(32)],
      [MessageType.Call, 1, 'f', []],
      [MessageType.Notify, 'f', []],
      [MessageType.Result, 1, 'x'],
      [MessageType.Error, 1, { type: 'value', value: 1 }],
      [MessageType.Cancel, 1, { type: 'value', value: 1 }],
      [MessageType.Progress, 1, 1],
      [MessageType.Item, 1, 1],
      [MessageType.End, 1],
      [MessageType.Credit, 1, 1],
      [MessageType.Ping, 1],
      [MessageType.Pong, 1],
      [MessageType.Goodbye, null],
    ]
    for (const message of messages) expect(peekMessageType(codec.encode(message as never))).toBe(message[0])
  })

  test.each([
    ['one-element array, type 0', [0x81, 0x00], 0],
    ['23-element array, type 23', [0x97, 0x17], 23],
    ['type 13 with more bytes behind', [0x82, 0x0d, 0xf6], 13],
    ['an empty payload', [], -1],
    ['an array head alone', [0x82], -1],
    ['an empty array', [0x80, 0x00], -1],
    ['an array with a one-byte length, even a small one', [0x98, 0x02, 0x02, 0x00], -1],
    ['an indefinite-length array', [0x9f, 0x02, 0xff], -1],
    ['a type needing a follow-on byte (24)', [0x81, 0x18, 0x18], -1],
    ['a negative type', [0x81, 0x20], -1],
    ['a text type', [0x81, 0x61, 0x32], -1],
    ['a map', [0xa1, 0x00, 0x00], -1],
    ['a bare integer', [0x02], -1],
    ['a tag', [0xc0, 0x81, 0x02], -1],
  ])('%s', (_, bytes, type) => {
    expect(peekMessageType(new Uint8Array(bytes))).toBe(type)
  })
})

describe('isId', () => {
  test('non-negative integral numbers only', () => {
    for (const value of [0, 1, 2 ** 31 - 1, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER, 1.0]) expect(isId(value)).toBe(true)
    for (const value of [-1, -0.5, 0.5, Number.NaN, Number.POSITIVE_INFINITY, '1', 1n, null, undefined, [1], { valueOf: () => 1 }]) {
      expect(isId(value)).toBe(false)
    }
  })
})

describe('isHandshakeMessage', () => {
  test('hello, auth and goodbye only', () => {
    const allowed = Object.values(MessageType).filter(isHandshakeMessage)
    expect(allowed).toEqual([MessageType.Hello, MessageType.Auth, MessageType.Goodbye])
    expect(isHandshakeMessage(-1)).toBe(false)
  })
})

describe('MESSAGE_NAMES', () => {
  test('names every type, as the error texts spell them', () => {
    expect(Object.keys(MESSAGE_NAMES).map(Number)).toEqual(Object.values(MessageType))
    expect(MESSAGE_NAMES[MessageType.Progress]).toBe('progress')
    expect(Object.isFrozen(MESSAGE_NAMES)).toBe(true)
  })
})
