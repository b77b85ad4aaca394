/**
 * References on the wire (src/protocol/references.ts and their place in the codec and the profile):
 * the walks that put tags in place of references and back, the profile's extra tag, the bytes of
 * PROTOCOL.md chapter 17's examples, and exports undone when a message fails after the walk.
 */
import { Tag } from 'cbor-x'
import { describe, expect, test } from 'vitest'
import { ProtocolError, SerializationError } from '../../src/core/errors.js'
import { Handshake } from '../../src/core/handshake.js'
import { resolveOptions } from '../../src/core/options.js'
import { Codec, type CodecReferences } from '../../src/protocol/codec.js'
import type { Payload } from '../../src/protocol/framing.js'
import { MessageType } from '../../src/protocol/messages.js'
import { checkProfile } from '../../src/protocol/profile.js'
import { REFERENCE_TAG, REFERENCES_FEATURE, restoreReferences, substituteReferences, type ReferenceContent } from '../../src/protocol/references.js'

/** Hooks that number functions and objects marked in `byRef`, and record what the codec tells them. */
function recordingHooks(byRef: WeakSet<object> = new WeakSet()) {
  const ids = new Map<object, number>()
  const log: string[] = []
  const hooks: CodecReferences = {
    accepting: true,
    encodeReference(value) {
      if (typeof value !== 'function' && !byRef.has(value)) return undefined
      if (!ids.has(value)) ids.set(value, ids.size + 1)
      return [typeof value === 'function' ? 0 : 1, ids.get(value)!]
    },
    decodeReference: (content: ReferenceContent) => ({ decoded: content }),
    settle: (payload: Payload | undefined) => log.push(payload === undefined ? 'undo' : 'sent'),
    discard: () => log.push('discard'),
  }
  return { hooks, log }
}

const hex = (bytes: Payload): string => Buffer.from(bytes as Uint8Array).toString('hex')

describe('substituteReferences', () => {
  test('functions at any depth become tags; what holds them is copied, the rest is shared and left alone', () => {
    const { hooks } = recordingHooks()
    const f = (): void => {}
    const g = (): void => {}
    const shared = { untouched: [1, 2] }
    class Point {
      constructor(
        readonly x: number,
        readonly onMove: () => void,
      ) {}
    }
    const input = [f, { a: [g], shared }, new Map([[f, g]]), new Set([g]), new Point(1, f), new Date(0), new Uint8Array([1])]
    const output = substituteReferences(input, hooks) as unknown[]
    expect(output).not.toBe(input)
    expect(input[0]).toBe(f)
    expect(output[0]).toEqual(new Tag([0, 1], REFERENCE_TAG))
    expect(output[1]).toEqual({ a: [new Tag([0, 2], REFERENCE_TAG)], shared })
    expect((output[1] as { shared: unknown }).shared).toBe(shared)
    expect(output[2]).toEqual(new Map([[new Tag([0, 1], REFERENCE_TAG), new Tag([0, 2], REFERENCE_TAG)]]))
    expect(output[3]).toEqual(new Set([new Tag([0, 2], REFERENCE_TAG)]))
    // A class instance is encoded as its enumerable properties: a plain copy of them.
    expect(output[4]).toEqual({ x: 1, onMove: new Tag([0, 1], REFERENCE_TAG) })
    expect(output[5]).toBe(input[5])
    expect(output[6]).toBe(input[6])
  })

  test('a value without references is returned as it is, class instances of data fields included', () => {
    const { hooks } = recordingHooks()
    const value = {
      list: [1, 'a', null],
      when: new Date(0),
      map: new Map([[1, { b: 2 }]]),
      at: new (class At {
        n = 1
      })(),
    }
    expect(substituteReferences(value, hooks)).toBe(value)
  })

  test('objects the hooks claim become tags (they are asked about class instances only); a cycle is a SerializationError', () => {
    const object = new (class Token {})()
    const { hooks } = recordingHooks(new WeakSet([object]))
    expect(substituteReferences([object], hooks)).toEqual([new Tag([1, 1], REFERENCE_TAG)])
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => substituteReferences(cyclic, hooks)).toThrow(SerializationError)
  })
})

describe('restoreReferences', () => {
  test('tags in arrays, objects, Maps and Sets become what the hooks make of them; other tags stay', () => {
    const { hooks } = recordingHooks()
    const tag = (id: number): Tag => new Tag([0, id], REFERENCE_TAG)
    const other = new Tag(new Uint8Array(2), 80)
    const restored = restoreReferences([tag(1), { a: tag(2) }, new Map([[tag(3), tag(4)]]), new Set([tag(5)]), other], hooks)
    expect(restored).toEqual([
      { decoded: [0, 1] },
      { a: { decoded: [0, 2] } },
      new Map([[{ decoded: [0, 3] }, { decoded: [0, 4] }]]),
      new Set([{ decoded: [0, 5] }]),
      other,
    ])
  })

  test.each([[[5, 1]], [[0, 0]], [[0, 1.5]], [[0, 2 ** 32]], [[0, '1']], [[0]], [[0, 1, 2]], ['x'], [null]])(
    'a tag content %j is a ProtocolError',
    (content) => {
      const { hooks } = recordingHooks()
      expect(() => restoreReferences([new Tag(content, REFERENCE_TAG)], hooks)).toThrow(ProtocolError)
    },
  )
})

describe('the profile', () => {
  const payload = Uint8Array.from([0x81, 0xd9, 0xc0, 0xde, 0x82, 0x00, 0x01])

  test('the reference tag is refused unless it is the extra tag, and then reported', () => {
    expect(() => checkProfile(payload)).toThrow(new ProtocolError('malformed CBOR payload: tag 49374 is not allowed'))
    expect(checkProfile(payload, undefined, REFERENCE_TAG)).toBe(true)
    expect(checkProfile(Uint8Array.from([0x81, 0x01]), undefined, REFERENCE_TAG)).toBe(false)
  })
})

describe('the codec', () => {
  test('a call with a callback: the bytes of PROTOCOL.md section 17.6', () => {
    const codec = new Codec()
    const { hooks, log } = recordingHooks()
    codec.references = hooks
    const payload = codec.encodeData([MessageType.Call, 1, 'subscribe', ['news', () => {}]], 3)
    expect(hex(payload)).toBe('8402016973756273637269626582646e657773d9c0de820001')
    expect(log).toEqual(['sent'])
    const decoded = codec.decode(payload as Uint8Array)
    expect(decoded).toEqual([MessageType.Call, 1, 'subscribe', ['news', { decoded: [0, 1] }]])
  })

  test('the hello of a client with references and describe: PROTOCOL.md section 16.1', () => {
    const options = resolveOptions({})
    const hello = new Handshake('client', undefined, {
      window: options.streamWindow,
      maxFrameSize: options.maxFrameSize,
      features: [REFERENCES_FEATURE, 'describe'],
      maxReferences: options.maxReferences,
    }).hello()
    expect(hex(new Codec().encode(hello))).toBe(
      '85006b6970632d6368616e6e656c01f6a56677696e646f7718406c6d61784672616d6553697a651a04000000686665617475726573826a7265666572656e6365736864657363726962656d6d61785265666572656e6365731a000186a064726f6c6566636c69656e74',
    )
  })

  test('the other examples of PROTOCOL.md section 17.8', () => {
    const codec = new Codec()
    const tag = (kind: number, x: unknown): Tag => new Tag([kind, x], REFERENCE_TAG)
    const examples: [unknown[], string][] = [
      [[MessageType.CallReference, 1, 1, null, ['hello']], '850e0101f6816568656c6c6f'],
      [[MessageType.Result, 2, tag(1, 1)], '830402d9c0de820101'],
      [[MessageType.CallReference, 3, 1, 'deposit', [10]], '850e0301676465706f736974810a'],
      [[MessageType.Call, 4, 'unsubscribe', ['news', tag(0, 1)]], '8402046b756e73756273637269626582646e657773d9c0de820001'],
      [[MessageType.Item, 5, tag(3, 1)], '830805d9c0de820301'],
      [[MessageType.Release, [1, 2]], '820f820102'],
      [[MessageType.Release, [1, 2, 7, 1]], '820f8401020701'],
      [[MessageType.Call, 5, 'wait', [tag(2, 2)]], '840205647761697481d9c0de820202'],
      [[MessageType.Signal, 2, { type: 'value', value: 'enough' }], '831002a264747970656576616c75656576616c756566656e6f756768'],
      [
        [MessageType.Call, 6, 'wait', [tag(4, { type: 'value', value: 'too late' })]],
        '840206647761697481d9c0de8204a264747970656576616c75656576616c756568746f6f206c617465',
      ],
    ]
    for (const [message, bytes] of examples) expect(hex(codec.encode(message as never)), JSON.stringify(message)).toBe(bytes)
  })

  test('without accepting references, a received tag is a ProtocolError; without hooks, a function cannot be sent', () => {
    const codec = new Codec()
    const payload = Uint8Array.from([0x83, 0x04, 0x01, 0xd9, 0xc0, 0xde, 0x82, 0x00, 0x01])
    expect(() => codec.decode(payload)).toThrow(ProtocolError)
    codec.references = { ...recordingHooks().hooks, accepting: false }
    expect(() => codec.decode(payload)).toThrow(ProtocolError)
    codec.references = undefined
    expect(() => codec.encodeData([MessageType.Result, 1, () => {}], 2)).toThrow(SerializationError)
  })

  test('a message that fails after its references were put in undoes them; a plain one never reaches the hooks', () => {
    const codec = new Codec()
    const { hooks, log } = recordingHooks()
    codec.references = hooks
    expect(() => codec.encodeData([MessageType.Result, 1, [() => {}, Symbol('no')]], 2)).toThrow(SerializationError)
    expect(log).toEqual(['undo'])
    codec.encodeData([MessageType.Result, 2, { plain: [1, 'two'] }], 2)
    codec.encodeData([MessageType.Result, 3, new Date(0)], 2)
    expect(log).toEqual(['undo'])
  })
})
