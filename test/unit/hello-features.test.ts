/**
 * Features in the hello (PROTOCOL.md section 5.2): how a hello announces them, how a hostile one is
 * bounded, and what a connection makes of them, with peers that announce some, others or none
 * (a version-1 endpoint).
 */
import { describe, expect, onTestFinished, test } from 'vitest'
import { Connection, type ConnectionOwner } from '../../src/core/connection.js'
import { Handshake, negotiateFeatures, type PeerInfo } from '../../src/core/handshake.js'
import { DEFAULT_MAX_FRAME_SIZE, resolveOptions } from '../../src/core/options.js'
import { Codec } from '../../src/protocol/codec.js'
import { MessageEncoder } from '../../src/protocol/encoder.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import type { TransportSink } from '../../src/core/transport.js'
import { joinPayload } from '../../src/protocol/framing.js'
import { decodeHandshake } from '../../src/protocol/handshake-decoder.js'
import {
  MAGIC,
  MAX_FEATURE_NAME,
  MAX_FEATURES,
  MessageType,
  PROTOCOL_VERSION,
  type HelloMessage,
  type HelloOptions,
} from '../../src/protocol/messages.js'
import { MemoryTransport, memoryPair } from '../helpers/memory-transport.js'

const codec = new Codec()
const encode = (message: unknown[]): Uint8Array => codec.encode(message as never)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
const hello = (options: unknown): unknown[] => [MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, options]
/** The options of a hello, decoded by decodeHandshake. */
const optionsOf = (payload: Uint8Array): HelloOptions => (decodeHandshake(payload) as HelloMessage)[4]

describe('decodeHandshake reads features', () => {
  test('the names of a features array, next to the other options', () => {
    const decoded = decodeHandshake(encode(hello({ window: 8, features: ['batch', 'references'], role: 'server' })))
    expect(decoded[4]).toEqual({ window: 8, features: ['batch', 'references'], role: 'server' })
  })

  test('elements that are not names are ignored: other types, empty or too long texts', () => {
    const long = 'x'.repeat(MAX_FEATURE_NAME + 1)
    const decoded = decodeHandshake(encode(hello({ features: ['', 1, long, null, ['batch'], { a: 1 }, 'x'.repeat(MAX_FEATURE_NAME), 'batch'] })))
    expect(decoded[4]).toEqual({ features: ['x'.repeat(MAX_FEATURE_NAME), 'batch'] })
  })

  test('a features value that is not an array is ignored, as if not announced', () => {
    for (const features of ['batch', 7, null, { batch: true }]) {
      expect(decodeHandshake(encode(hello({ window: 8, features })))[4]).toEqual({ window: 8 })
    }
  })

  test(`${MAX_FEATURES} names are read; one element more is a ProtocolError before any is built`, () => {
    const names = Array.from({ length: MAX_FEATURES }, (_, i) => `f${i}`)
    expect(optionsOf(encode(hello({ features: names }))).features).toEqual(names)
    const error = (() => {
      try {
        decodeHandshake(encode(hello({ features: [...names, 'one-more'] })))
      } catch (thrown) {
        return thrown as Error
      }
    })()
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error?.message).toBe(`malformed hello: ${MAX_FEATURES + 1} features, more than ${MAX_FEATURES}`)
  })

  test('what is ignored inside features is bounded like any ignored part: no tags, limited nesting', () => {
    expect(() => decodeHandshake(encode(hello({ features: [new Date(0)] })))).toThrow(ProtocolError)
    expect(() => decodeHandshake(encode(hello({ features: [[[[[1]]]]] })))).toThrow(/nested deeper/)
    expect(decodeHandshake(encode(hello({ features: [[[[1]]], 'batch'] })))[4]).toEqual({ features: ['batch'] })
  })
})

describe('the hello a side sends', () => {
  test('announces its features, and no features key when it has none (the hello of version 1)', () => {
    const plain = new Handshake('auto', undefined, { window: 64, maxFrameSize: DEFAULT_MAX_FRAME_SIZE }).hello()
    // PROTOCOL.md section 16.1: the hello of an end with an automatic role.
    expect(hex(encode(plain))).toBe('85006b6970632d6368616e6e656c01f6a26677696e646f7718406c6d61784672616d6553697a651a04000000')
    const port = new Handshake('auto', undefined, { window: 64, maxFrameSize: DEFAULT_MAX_FRAME_SIZE, features: ['batch'] }).hello()
    expect(hex(encode(port))).toBe(
      '85006b6970632d6368616e6e656c01f6a36677696e646f7718406c6d61784672616d6553697a651a0400000068666561747572657381656261746368',
    )
  })

  test('a client with the default options sends the hello of PROTOCOL.md section 16.1', () => {
    // A peer that never starts: the hello waits there, and closing reaches a transport that exists.
    const [transport] = memoryPair()
    const owner: ConnectionOwner = {
      traffic: { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0 },
      opened: () => {},
      received: () => {},
      report: () => {},
      drained: () => {},
      sendFrame: () => {},
      ended: () => {},
    }
    const connection = new Connection(transport, 'client', resolveOptions({}), new MessageEncoder(new Codec(), DEFAULT_MAX_FRAME_SIZE), owner)
    onTestFinished(() => connection.destroy())
    connection.start()
    expect(hex(joinPayload(transport.sent[0]!))).toBe(
      '85006b6970632d6368616e6e656c01f6a56677696e646f7718406c6d61784672616d6553697a651a04000000686665617475726573826a7265666572656e6365736864657363726962656d6d61785265666572656e6365731a000186a064726f6c6566636c69656e74',
    )
    expect(owner.traffic).toEqual({ framesSent: 1, bytesSent: 105, framesReceived: 0, bytesReceived: 0 })
  })

  test('the features in effect are those both hellos name', () => {
    expect([...negotiateFeatures(['batch', 'describe'], ['describe', 'batch', 'other'])]).toEqual(['batch', 'describe'])
    expect(negotiateFeatures(['batch'], undefined).size).toBe(0)
    expect(negotiateFeatures(undefined, ['batch']).size).toBe(0)
    expect(negotiateFeatures(['batch'], ['references']).size).toBe(0)
  })

  test('the handshake reports them once the peer is known, with and without a secret', async () => {
    const plain = new Handshake('auto', undefined, { features: ['batch', 'a'] })
    const info = await plain.receive(decodeHandshake(encode(hello({ features: ['a', 'b'] }))), () => {})
    expect(info).toEqual({ options: { features: ['a', 'b'] }, features: new Set(['a']) })
    const secret = new TextEncoder().encode('s')
    const client = new Handshake('client', secret, { features: ['batch'] })
    const server = new Handshake('server', secret, {})
    const toServer: Uint8Array[] = []
    const toClient: Uint8Array[] = []
    await server.receive(decodeHandshake(encode(client.hello())), (auth) => toClient.push(encode(auth)))
    await client.receive(decodeHandshake(encode(server.hello())), (auth) => toServer.push(encode(auth)))
    expect((await server.receive(decodeHandshake(toServer[0]), () => {}))?.features).toEqual(new Set())
    expect((await client.receive(decodeHandshake(toClient[0]), () => {}))?.features).toEqual(new Set())
  })
})

/** A memory transport that announces features and records what it is told. */
class FeatureTransport extends MemoryTransport {
  readonly told: ReadonlySet<string>[] = []
  /** What the sink had received when `negotiated` was called. */
  readonly deliveredWhenTold: number[] = []
  delivered = 0

  constructor(readonly features: readonly string[]) {
    super()
  }

  override start(sink: TransportSink): void {
    super.start({
      message: (payload) => {
        this.delivered++
        sink.message(payload)
      },
      closed: (error) => sink.closed(error),
      drain: () => sink.drain(),
    })
  }

  negotiated(features: ReadonlySet<string>): void {
    this.told.push(features)
    this.deliveredWhenTold.push(this.delivered)
  }
}

function connectionOver(transport: MemoryTransport, secret?: string) {
  const opened: PeerInfo[] = []
  const owner: ConnectionOwner = {
    traffic: { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0 },
    opened: (peer, settle) => {
      opened.push(peer)
      settle()
    },
    received: () => {},
    report: () => {},
    drained: () => {},
    sendFrame: () => {},
    ended: () => {},
  }
  // References and introspection off: these connections announce their transport's features alone, as
  // version 1 hellos do.
  const options = resolveOptions({ heartbeat: false, secret, maxReferences: 0, introspection: false })
  const connection = new Connection(transport, 'auto', options, new MessageEncoder(new Codec(), DEFAULT_MAX_FRAME_SIZE), owner)
  onTestFinished(() => connection.destroy())
  return { connection, opened }
}

/** Joins two memory transports. */
function link(a: MemoryTransport, b: MemoryTransport): void {
  a.peer = b
  b.peer = a
}

describe('a connection', () => {
  test.each([undefined, 's3cret'])(
    'tells its transport the features in effect on the peer hello, before anything behind it (secret %s)',
    async (secret) => {
      const a = new FeatureTransport(['batch', 'x'])
      const b = new FeatureTransport(['x', 'batch', 'y'])
      link(a, b)
      const left = connectionOver(a, secret)
      const right = connectionOver(b, secret)
      left.connection.start()
      right.connection.start()
      await Promise.all([left.connection.ready, right.connection.ready])
      for (const transport of [a, b]) {
        expect(transport.told).toEqual([new Set(['batch', 'x'])])
        // Told while the peer's hello was being taken in: the hello was the one frame delivered.
        expect(transport.deliveredWhenTold).toEqual([1])
      }
      expect(left.connection.features).toEqual(new Set(['batch', 'x']))
      expect(left.opened[0].features).toEqual(new Set(['batch', 'x']))
      expect(optionsOf(joinPayload(a.sent[0])).features).toEqual(['batch', 'x'])
    },
  )

  test('with a peer that announces nothing (version 1), none is in effect and it still opens', async () => {
    const a = new FeatureTransport(['batch'])
    const b = new MemoryTransport()
    link(a, b)
    const left = connectionOver(a)
    const right = connectionOver(b)
    left.connection.start()
    right.connection.start()
    await Promise.all([left.connection.ready, right.connection.ready])
    expect(a.told).toEqual([new Set()])
    expect(left.connection.features.size).toBe(0)
    expect(right.connection.features.size).toBe(0)
    // The version-1 side's hello has no features key at all.
    expect(Object.keys(optionsOf(b.sent[0]))).toEqual(['window', 'maxFrameSize'])
  })
})
