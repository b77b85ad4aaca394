/**
 * Fault tests: a seeded fuzz run against a live server process. Hundreds of raw connections send
 * random bytes, random frames of random CBOR, bit-flipped copies of real frames captured from a real
 * Client, wrongly shaped and unknown messages, `__proto__` maps, and replies to unknown or already
 * answered calls, while a good client keeps calling. The server must stay up and correct, keep
 * Object.prototype clean, and close every hostile connection.
 *
 * Reproduce a run with FAULTS_SEED=<seed>; the seed is in every failure message.
 */
import { createServer } from 'node:net'
import { describe, expect, onTestFinished, test } from 'vitest'
import { Client } from '../../../dist/index.js'
import { netPath } from '../../helpers/address.js'
import { tempSocket } from '../../helpers/processes.js'
import {
  FrameReader,
  MAGIC,
  MessageType,
  PROTOCOL_VERSION,
  encode,
  frame,
  helloFrame,
  messageFrame,
  rawConnect,
  type RawPeer,
} from '../../helpers/wire.js'
import { Random, startFaultServer, within } from './support.js'

const SEED = Number(process.env.FAULTS_SEED ?? 0x1bad5eed)
const CONNECTIONS = 240
const PARALLEL = 24

// -------------------------------------------------------------------------------------------------
// Real frames, captured from a real Client

interface Captured {
  /** The hello of a Client without a secret, and of one with a secret (with its nonce). */
  hellos: Buffer[]
  /** Calls, notifications and a cancel, as a Client wrote them after the handshake. */
  frames: Buffer[]
}

/**
 * Lets real Clients connect to a socket in this process that answers their hello and records every
 * frame they write.
 */
async function captureFrames(): Promise<Captured> {
  const path = tempSocket('capture.sock')
  const recorded: Buffer[][] = []
  const server = createServer((socket) => {
    const frames: Buffer[] = []
    recorded.push(frames)
    const reader = new FrameReader()
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      for (const raw of reader.pushRaw(chunk)) {
        if (frames.length === 0) socket.write(helloFrame())
        frames.push(Buffer.from(raw))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(netPath(path), resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const plain = new Client(path, { heartbeat: false })
  plain.on('error', () => {})
  onTestFinished(() => plain.destroy())
  await plain.ready()
  const calls = [
    plain.rpc('add', 1, 2),
    plain.rpc('echo', { text: 'héllo', list: [1, -2, 3.5, null, true], when: new Date(0), big: 2n ** 70n, bytes: Buffer.from([1, 2, 3]) }),
    plain.rpc(
      'echo',
      new Map<unknown, unknown>([
        [1, 'one'],
        ['two', new Set([2])],
      ]),
    ),
    plain.rpc('slow', 0, 10),
  ]
  plain.notify('record', 'notified')
  calls[3].abort()
  for (const call of calls) call.catch(() => {})

  // A hello with a nonce: a Client with a secret writes it before anything else.
  const secret = new Client(path, { secret: 'captured', heartbeat: false })
  secret.on('error', () => {})
  onTestFinished(() => secret.destroy())
  secret.ready().catch(() => {})

  const deadline = Date.now() + 5000
  while ((recorded.length < 2 || recorded[0].length < 7 || recorded[1].length < 1) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const [plainFrames, secretFrames] = recorded
  return { hellos: [plainFrames[0], secretFrames[0]], frames: plainFrames.slice(1) }
}

// -------------------------------------------------------------------------------------------------
// Generators

/** A CBOR head: major type and argument, in the shortest form or (sometimes) a longer one. */
function head(r: Random, major: number, value: number | bigint): Buffer {
  const m = major << 5
  const n = typeof value === 'bigint' ? value : BigInt(value)
  const longer = r.chance(0.05)
  if (n < 24n && !longer) return Buffer.from([m | Number(n)])
  if (n < 0x100n && !longer) return Buffer.from([m | 24, Number(n)])
  if (n < 0x10000n && !longer) return Buffer.from([m | 25, Number(n >> 8n), Number(n & 0xffn)])
  if (n < 0x100000000n) {
    const b = Buffer.alloc(5)
    b[0] = m | 26
    b.writeUInt32BE(Number(n), 1)
    return b
  }
  const b = Buffer.alloc(9)
  b[0] = m | 27
  b.writeBigUInt64BE(n & 0xffffffffffffffffn, 1)
  return b
}

const TAGS = [0, 1, 2, 3, 4, 5, 14, 15, 21, 24, 27, 28, 29, 32, 51, 64, 65, 69, 72, 76, 81, 85, 87, 105, 258, 259, 55799, 0xe000, 0xdffe, 40009]
const KEYS = ['__proto__', 'constructor', 'prototype', 'polluted', 'isAdmin', 'toString', 'valueOf', 'then', 'type', 'name', 'cause', 'props']

function randomArgument(r: Random): number | bigint {
  switch (r.int(6)) {
    case 0:
      return r.int(24)
    case 1:
      return r.int(256)
    case 2:
      return r.int(65536)
    case 3:
      return r.pick([0xffffffff, 0x7fffffff, 0x80000000, 2 ** 53])
    case 4:
      return BigInt.asUintN(64, BigInt(r.int(2 ** 31)) * BigInt(r.int(2 ** 31)) * 7n)
    default:
      return r.int(8)
  }
}

/** Random CBOR-ish bytes: mostly well-formed, sometimes lying about lengths, odd tags and simple values. */
function randomCbor(r: Random, depth = 0): Buffer {
  const leaf = depth >= 4
  switch (r.int(leaf ? 4 : 9)) {
    case 0:
      return head(r, r.int(2), randomArgument(r))
    case 1: {
      const length = r.int(40)
      const declared = r.chance(0.1) ? length + 1 + r.int(1000) : length
      return Buffer.concat([head(r, 2, declared), r.bytes(length)])
    }
    case 2: {
      const text = r.chance(0.5) ? Buffer.from(r.pick(KEYS)) : r.bytes(r.int(20))
      return Buffer.concat([head(r, 3, text.length), text])
    }
    case 3:
      return Buffer.from(
        r.pick([
          [0xf4],
          [0xf5],
          [0xf6],
          [0xf7],
          [0xf9, 0x7c, 0x00],
          [0xfa, 0x7f, 0xc0, 0, 0],
          [0xfb, 0, 0, 0, 0, 0, 0, 0, 1],
          [0xff],
          [0xf8, r.int(256)],
          [0xe0 | r.int(20)],
          [0x1f],
          [0x5f, 0xff],
          [0x7f, 0xff],
        ]),
      )
    case 4:
    case 5: {
      const count = r.int(5)
      const items = Array.from({ length: count }, () => randomCbor(r, depth + 1))
      if (r.chance(0.15)) return Buffer.concat([Buffer.from([0x9f]), ...items, Buffer.from([0xff])])
      const declared = r.chance(0.1) ? randomArgument(r) : count
      return Buffer.concat([head(r, 4, declared), ...items])
    }
    case 6: {
      const count = r.int(4)
      const pairs: Buffer[] = []
      for (let i = 0; i < count; i++) {
        const key = r.chance(0.7) ? r.pick(KEYS) : undefined
        pairs.push(key === undefined ? randomCbor(r, depth + 1) : encode(key), randomCbor(r, depth + 1))
      }
      if (r.chance(0.1)) return Buffer.concat([Buffer.from([0xbf]), ...pairs, Buffer.from([0xff])])
      return Buffer.concat([head(r, 5, count), ...pairs])
    }
    case 7: {
      const tag = r.pick(TAGS)
      // Bignums stay small here: their decoding cost has a test of its own.
      const content = tag === 2 || tag === 3 ? Buffer.concat([head(r, 2, 16), r.bytes(16)]) : randomCbor(r, depth + 1)
      return Buffer.concat([head(r, 6, tag), content])
    }
    default:
      return Buffer.concat([
        Buffer.from([0xd8, 27]),
        encode([r.pick(['RegExp', 'Error', 'constructor', '__proto__', 'toString', 'Function']), '(a+)+$', 'g']),
      ])
  }
}

/** A message array of a known or unknown type with random fields, encoded with a real encoder. */
function randomMessage(r: Random): Buffer {
  const type = r.chance(0.8) ? r.int(14) : r.pick([14, 15, 99, 255, -1, 2 ** 31, 1.5])
  const fields = Array.from({ length: r.int(4) }, () => randomCbor(r, 2))
  return Buffer.concat([head(r, 4, 1 + fields.length), encode(type), ...fields])
}

/** Flips 1 to 4 random bits anywhere in the frame, the length prefix included. */
function mutate(r: Random, original: Buffer): Buffer {
  const copy = Buffer.from(original)
  for (let flips = 1 + r.int(4); flips > 0; flips--) copy[r.int(copy.length)] ^= 1 << r.int(8)
  return copy
}

const WRONG_SHAPES: unknown[] = [
  [],
  [MessageType.Call],
  [MessageType.Call, '1', 'add', []],
  [MessageType.Call, -1, 'add', []],
  [MessageType.Call, 1.5, 'add', []],
  [MessageType.Call, 1, 7, []],
  [MessageType.Call, 1, 'add', { 0: 1 }],
  [MessageType.Call, 1, 'add', null],
  [MessageType.Call, 2 ** 60, 'add', []],
  [MessageType.Notify],
  [MessageType.Notify, 1, []],
  [MessageType.Notify, 'add', 'x'],
  [MessageType.Result],
  [MessageType.Result, 'x'],
  [MessageType.Error, -3],
  [MessageType.Cancel, 'x'],
  [MessageType.Progress, null],
  [MessageType.Item, {}],
  [MessageType.End, 'a'],
  [MessageType.Credit, 1, -1],
  [MessageType.Credit, 1, 1.5],
  [MessageType.Credit, 'a', 1],
  [MessageType.Ping, 'x'],
  [MessageType.Ping, -1],
  [MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, {}],
  [MessageType.Auth, Buffer.alloc(32)],
  [MessageType.Hello, 'not-ipc-channel', PROTOCOL_VERSION, null, {}],
  {},
  'a string',
  42,
  null,
  [true],
  [[MessageType.Call]],
  new Map([[0, 1]]),
]

/** Raw CBOR of a text-keyed map whose first key is `__proto__`: cbor-x must never treat it as a setter. */
function protoMap(inner: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([0xa2]), encode('__proto__'), encode(inner), encode('ok'), encode(1)])
}

/** `[type, ...parts]` with raw CBOR parts. */
function rawMessage(type: number, ...parts: Buffer[]): Buffer {
  return frame(Buffer.concat([Buffer.from([0x80 | (parts.length + 1)]), encode(type), ...parts]))
}

function protoAttacks(r: Random, id: number): Buffer[] {
  const polluting = { polluted: 'yes', isAdmin: true }
  return r.pick([
    () => [rawMessage(MessageType.Call, encode(id), encode('echo'), Buffer.concat([Buffer.from([0x81]), protoMap(polluting)]))],
    () => [
      rawMessage(MessageType.Call, encode(id), encode('add'), Buffer.concat([Buffer.from([0x82]), protoMap(polluting), protoMap({ valueOf: 1 })])),
    ],
    () => [rawMessage(MessageType.Notify, encode('echo'), Buffer.concat([Buffer.from([0x81]), protoMap(polluting)]))],
    () => [
      messageFrame([
        MessageType.Call,
        id,
        r.pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype']),
        [polluting],
      ]),
    ],
    () => [messageFrame([MessageType.Call, id, 'echo', [{ constructor: { prototype: polluting } }]])],
    // A map with keys of any type (tag 259), then records and value sharing that the profile forbids.
    () => [
      rawMessage(
        MessageType.Call,
        encode(id),
        encode('echo'),
        Buffer.concat([Buffer.from([0x81, 0xd9, 0x01, 0x03, 0xa1]), encode('__proto__'), encode(polluting)]),
      ),
    ],
    () => [
      rawMessage(
        MessageType.Call,
        encode(id),
        encode('echo'),
        Buffer.concat([Buffer.from([0x81, 0xd8, 105]), encode([0xe000, ['__proto__', 'b'], polluting, 2])]),
      ),
    ],
  ])()
}

/** An error envelope whose props and cause try to reach prototypes. */
function hostileEnvelope(): Buffer {
  return Buffer.concat([
    Buffer.from([0xa5]),
    encode('type'),
    encode('error'),
    encode('name'),
    encode('__proto__'),
    encode('message'),
    encode('m'),
    encode('props'),
    protoMap({ polluted: 'yes' }),
    encode('cause'),
    encode({ type: 'error', name: 'constructor', message: 'c', props: { prototype: { polluted: 1 } } }),
  ])
}

type Attack = (r: Random, peer: RawPeer, captured: Captured) => Promise<void>

function write(r: Random, peer: RawPeer, bytes: Buffer): void {
  // Split at random points: the framing layer must not care how bytes arrive.
  let offset = 0
  while (offset < bytes.length) {
    const size = r.chance(0.5) ? bytes.length - offset : 1 + r.int(Math.max(1, bytes.length - offset))
    peer.socket.write(bytes.subarray(offset, offset + size))
    offset += size
  }
}

const ATTACKS: Record<string, Attack> = {
  async randomBytes(r, peer) {
    write(r, peer, r.bytes(1 + r.int(2048)))
  },
  async randomFrames(r, peer) {
    const frames = Array.from({ length: 1 + r.int(6) }, () => frame(r.chance(0.5) ? randomCbor(r) : randomMessage(r)))
    write(r, peer, Buffer.concat(r.chance(0.5) ? [helloFrame(), ...frames] : frames))
  },
  async deepNesting(r, peer) {
    const depth = r.pick([600, 5000, 100_000])
    const payload = Buffer.concat([Buffer.alloc(depth, r.chance(0.5) ? 0x81 : 0xd9), Buffer.from([0x00])])
    write(r, peer, Buffer.concat(r.chance(0.5) ? [helloFrame(), frame(payload)] : [frame(payload)]))
  },
  async mutatedHello(r, peer, captured) {
    const frames = [mutate(r, r.pick(captured.hellos)), ...captured.frames.slice(0, r.int(captured.frames.length + 1))]
    write(r, peer, Buffer.concat(frames))
  },
  async mutatedFrames(r, peer, captured) {
    const frames = captured.frames.map((f) => (r.chance(0.5) ? mutate(r, f) : f))
    write(r, peer, Buffer.concat([captured.hellos[0], ...frames]))
  },
  async wrongShapes(r, peer) {
    const frames = Array.from({ length: 1 + r.int(4) }, () => messageFrame(r.pick(WRONG_SHAPES)))
    write(r, peer, Buffer.concat([helloFrame(), ...frames]))
  },
  async unknownTypes(r, peer) {
    const type = r.pick([14, 15, 42, 255, 65535, -1, -100, 2 ** 31, 2 ** 40, 0.5, Number.MAX_SAFE_INTEGER])
    write(r, peer, Buffer.concat([helloFrame(), messageFrame([type, 1, 'add', [1, 2]])]))
  },
  async protoMaps(r, peer) {
    const hello = r.chance(0.3)
      ? rawMessage(MessageType.Hello, encode(MAGIC), encode(PROTOCOL_VERSION), encode(null), protoMap({ window: 1 }))
      : helloFrame()
    write(r, peer, Buffer.concat([hello, ...protoAttacks(r, 1 + r.int(100)), ...protoAttacks(r, 101 + r.int(100))]))
  },
  async replies(r, peer) {
    // The server calls `whoami` on every new channel: answer it twice, and answer calls never made.
    write(r, peer, helloFrame())
    const call = await peer.receive((m) => m[0] === MessageType.Call, 5000)
    const id = call[1] as number
    const frames = [
      messageFrame([MessageType.Result, id + 1000, 'unknown id']),
      messageFrame([MessageType.Error, 987_654, { type: 'error', name: 'Error', message: 'unknown id' }]),
      r.chance(0.5) ? messageFrame([MessageType.Result, id, 'first']) : rawMessage(MessageType.Error, encode(id), hostileEnvelope()),
      messageFrame([MessageType.Result, id, 'duplicate']),
      rawMessage(MessageType.Error, encode(id), hostileEnvelope()),
      messageFrame([MessageType.Progress, id, 'late']),
      messageFrame([MessageType.Item, id, 'late']),
      messageFrame([MessageType.End, id]),
      messageFrame([MessageType.Cancel, 424_242, { type: 'value', value: null }]),
      messageFrame([MessageType.Credit, 424_242, 5]),
    ]
    write(r, peer, Buffer.concat(frames.filter(() => r.chance(0.8))))
  },
}

describe('fuzzing a live server from raw sockets', () => {
  test(`${CONNECTIONS} hostile connections (seed ${SEED}): the server stays up, correct and unpolluted, and closes each of them`, async () => {
    const captured = await captureFrames()
    expect(captured.hellos).toHaveLength(2)
    expect(captured.frames.length).toBeGreaterThanOrEqual(5)

    // Short handshake timeout and heartbeat: a connection left half-way is dropped within ~1.5 s.
    const server = await startFaultServer({
      callOnConnect: 'whoami',
      handshakeTimeout: 1000,
      heartbeat: { interval: 250, timeout: 1250 },
      maxFrameSize: 1024 * 1024,
    })
    const good = new Client(server.path)
    good.on('error', () => {})
    onTestFinished(() => good.destroy())
    good.expose('whoami', () => 'the good client')
    await good.ready()
    let calls = 0
    const failures: unknown[] = []
    let fuzzing = true
    const goodLoop = (async () => {
      while (fuzzing) {
        const value = await good.rpc('echo', { n: calls, list: [calls, 'x'] }).then(
          (v) => v,
          (error: unknown) => (failures.push(error), undefined),
        )
        if (value !== undefined && (value as { n: number }).n !== calls) failures.push(`wrong answer at call ${calls}`)
        calls++
      }
    })()

    const random = new Random(SEED)
    const names = Object.keys(ATTACKS)
    const plan = Array.from({ length: CONNECTIONS }, (_, i) => ({ i, kind: names[i % names.length], seed: random.int(2 ** 31) }))
    const notClosed: string[] = []
    const errors: string[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < plan.length) {
        const { i, kind, seed } = plan[next++]
        const r = new Random(seed)
        const peer = await rawConnect(server.path)
        try {
          await ATTACKS[kind](r, peer, captured)
        } catch (error) {
          // The server may close before the attack is complete (no `whoami` call comes): that is fine.
          if (!peer.isClosed()) errors.push(`#${i} ${kind} (seed ${seed}): ${String(error)}`)
        }
        // We never close: the server must. Protocol errors close at once; anything that leaves the
        // connection idle is closed by the handshake timeout or the heartbeat.
        const closed = await within(4000, peer.closed, 'close').then(
          () => true,
          () => false,
        )
        if (!closed) notClosed.push(`#${i} ${kind} (seed ${seed})`)
        peer.socket.destroy()
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker))
    fuzzing = false
    await goodLoop

    const context = `seed ${SEED}`
    expect(errors, context).toEqual([])
    expect(notClosed, context).toEqual([])
    expect(failures, context).toEqual([])
    expect(calls).toBeGreaterThan(50)
    // Still alive and answering, on the good connection and on a new one.
    expect(server.fixture.child.exitCode).toBeNull()
    expect(await within(2000, good.rpc('add', 2, 3), 'a call after the fuzzing')).toBe(5)
    const fresh = new Client(server.path)
    onTestFinished(() => fresh.destroy())
    expect(await within(2000, fresh.rpc('add', 4, 5), 'a new connection')).toBe(9)
    const report = await server.stats()
    if (process.env.FAULTS_VERBOSE)
      console.log(
        JSON.stringify({ calls, errors: report.stats.errors, callOnConnect: report.stats.callOnConnect, connections: report.stats.connections }),
      )
    expect(report.pollution, context).toEqual([])
    expect(report.stats.unexpected, context).toEqual([])
    expect(report.stats.connections).toBeGreaterThan(CONNECTIONS / 3)
  })
})
