import pDefer from 'p-defer'
import { afterEach, describe, expect, onTestFinished, test, vi } from 'vitest'
import { Connection, type ConnectionEnd, type ConnectionOwner } from '../../src/core/connection.js'
import { AuthenticationError, ChannelClosedError, ProtocolError, TimeoutError } from '../../src/core/errors.js'
import { Handshake, secretBytes, type PeerInfo, type Role } from '../../src/core/handshake.js'
import { DEFAULT_MAX_FRAME_SIZE, resolveOptions, type ChannelOptions } from '../../src/core/options.js'
import { Codec } from '../../src/protocol/codec.js'
import { MessageEncoder } from '../../src/protocol/encoder.js'
import { joinPayload } from '../../src/protocol/framing.js'
import { MAGIC, MAX_STREAM_WINDOW, MessageType, MIN_FRAME_SIZE, PROTOCOL_VERSION, type Message } from '../../src/protocol/messages.js'
import { memoryPair, type MemoryTransport } from '../helpers/memory-transport.js'

type Entry = ['opened', PeerInfo] | ['received', Message] | ['report', Error] | ['drained'] | ['sendFrame', unknown] | ['ended', ConnectionEnd]

/** A ConnectionOwner that records every call, settles the attach at once, and can be waited on. */
function recordingOwner() {
  const log: Entry[] = []
  /** The frame size given with each `received` entry, in the same order. */
  const sizes: number[] = []
  const codec = new Codec()
  let waiters: { test: () => boolean; resolve: () => void }[] = []
  const push = (entry: Entry): void => {
    log.push(entry)
    const ready = waiters.filter((waiter) => waiter.test())
    waiters = waiters.filter((waiter) => !ready.includes(waiter))
    for (const waiter of ready) waiter.resolve()
  }
  const owner: ConnectionOwner = {
    traffic: { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0 },
    opened: (peer, settle) => {
      push(['opened', peer])
      settle()
    },
    received: (message, size) => {
      sizes.push(size)
      push(['received', message])
    },
    report: (error) => push(['report', error]),
    drained: () => push(['drained']),
    sendFrame: (payload) => push(['sendFrame', codec.decode(joinPayload(payload))]),
    ended: (end) => push(['ended', end]),
  }
  const kinds = (kind: Entry[0]): Entry[] => log.filter((entry) => entry[0] === kind)
  return {
    owner,
    log,
    sizes,
    /** The entries of one kind, without the kind. */
    all: <K extends Entry[0]>(kind: K) => kinds(kind).map((entry) => entry[1]) as Extract<Entry, [K, ...unknown[]]>[1][],
    /** Resolves once `count` entries of `kind` have been recorded. */
    until(kind: Entry[0], count = 1): Promise<void> {
      const deferred = pDefer<void>()
      const waiter = { test: () => kinds(kind).length >= count, resolve: deferred.resolve }
      if (waiter.test()) return Promise.resolve()
      waiters.push(waiter)
      return deferred.promise
    },
    /** The one `ended` entry, once it was recorded. */
    async ended(): Promise<ConnectionEnd> {
      await this.until('ended')
      return kinds('ended')[0][1] as ConnectionEnd
    },
  }
}

/** One side: a Connection over `transport`, with its own encoder and a recording owner. */
function side(transport: MemoryTransport, role: Role, options: ChannelOptions = {}) {
  const encoder = new MessageEncoder(new Codec(), DEFAULT_MAX_FRAME_SIZE)
  const recorder = recordingOwner()
  const resolved = resolveOptions({ heartbeat: false, ...options })
  const connection = new Connection(transport, role, resolved, encoder, recorder.owner)
  onTestFinished(() => connection.destroy())
  return { connection, encoder, transport, ...recorder }
}

/** Two Connections over a memory pair, both started. */
function connectionPair(serverOptions: ChannelOptions = {}, clientOptions: ChannelOptions = serverOptions) {
  const [serverTransport, clientTransport] = memoryPair()
  const server = side(serverTransport, 'server', serverOptions)
  const client = side(clientTransport, 'client', clientOptions)
  server.connection.start()
  client.connection.start()
  return { server, client }
}

/**
 * A Connection whose peer is driven by hand: `send` encodes a message as the peer would, `inject` sends
 * raw bytes, and `received` holds the decoded frames the connection sent.
 */
function withRawPeer(options: ChannelOptions = {}, role: Role = 'server') {
  const [own, peer] = memoryPair()
  const codec = new Codec()
  const received: unknown[][] = []
  const peerClosed = pDefer<void>()
  peer.start({
    message: (payload) => received.push(codec.decode(payload as Uint8Array) as unknown[]),
    closed: () => peerClosed.resolve(),
    drain: () => {},
  })
  const local = side(own, role, options)
  return {
    ...local,
    peer,
    received,
    peerClosed: peerClosed.promise,
    send: (message: unknown[]) => peer.inject(codec.encode(message as Message)),
    inject: (bytes: Uint8Array) => peer.inject(bytes),
    /** A hello without a secret, as a peer would send it. */
    hello: (options: Record<string, unknown> = {}) => [MessageType.Hello, MAGIC, PROTOCOL_VERSION, null, options],
  }
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a rejection')
}

/** One macrotask: what the connection's backlog waits for. */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

/** Lets pending microtasks run, several times over, without letting a macrotask run. */
async function microtasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}

afterEach(() => {
  vi.useRealTimers()
})

describe('handshake', () => {
  test('without a secret both sides open once, with what the peer announced', async () => {
    const { server, client } = connectionPair({ streamWindow: 8, maxFrameSize: 5000 }, {})
    await Promise.all([server.connection.ready, client.connection.ready])
    expect(server.connection.open).toBe(true)
    expect(client.connection.open).toBe(true)
    expect(server.all('opened')).toEqual([
      {
        options: { window: 64, maxFrameSize: DEFAULT_MAX_FRAME_SIZE, features: ['references', 'describe'], maxReferences: 100_000, role: 'client' },
        features: new Set(['references', 'describe']),
      },
    ])
    expect(client.all('opened')).toEqual([
      {
        options: { window: 8, maxFrameSize: 5000, features: ['references', 'describe'], maxReferences: 100_000, role: 'server' },
        features: new Set(['references', 'describe']),
      },
    ])
    expect(server.log).toHaveLength(1)
    expect(client.log).toHaveLength(1)
  })

  test('with the same secret both sides open once', async () => {
    const { server, client } = connectionPair({ secret: 'shared' })
    await Promise.all([server.connection.ready, client.connection.ready])
    expect(server.all('opened')).toHaveLength(1)
    expect(client.all('opened')).toHaveLength(1)
    expect(server.log).toHaveLength(1)
    expect(client.log).toHaveLength(1)
  })

  test('different secrets reject ready on both sides with AuthenticationError', async () => {
    const { server, client } = connectionPair({ secret: 'one' }, { secret: 'other' })
    for (const end of [server, client]) {
      const error = await rejectionOf(end.connection.ready)
      expect(error).toBeInstanceOf(AuthenticationError)
      expect(error.message).toBe('the peer failed to prove the secret')
      const ended = await end.ended()
      expect(ended).toEqual({ reason: error, report: true, wasOpen: false })
      expect(end.all('opened')).toEqual([])
    }
  })

  test('a secret on one side only fails both', async () => {
    const { server, client } = connectionPair({ secret: 'mine' }, {})
    expect((await rejectionOf(server.connection.ready)).message).toBe('a secret was given but the peer does not authenticate')
    expect((await rejectionOf(client.connection.ready)).message).toBe('the peer requires a secret and none was given')
  })

  test('a message other than hello, auth or goodbye before the handshake fails with ProtocolError', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send([MessageType.Call, 1, 'early', []])
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toBe('message type 2 sent before the handshake completed')
    expect(await raw.ended()).toEqual({ reason: error, report: true, wasOpen: false })
    await raw.peerClosed
    expect(raw.all('opened')).toEqual([])
  })

  test('bytes that are not a message head count as type -1', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.inject(new Uint8Array([0xff, 0x00]))
    expect((await rejectionOf(raw.connection.ready)).message).toBe('message type -1 sent before the handshake completed')
  })

  test('more than maxHandshakeBytes in one frame fails with ProtocolError', async () => {
    const raw = withRawPeer({ maxHandshakeBytes: 100 })
    raw.connection.start()
    raw.send(raw.hello({ padding: 'x'.repeat(100) }))
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toBe('more than 100 bytes sent before the handshake completed')
    expect(await raw.ended()).toEqual({ reason: error, report: true, wasOpen: false })
  })

  test("maxHandshakeBytes counts every frame up to the peer's last handshake frame", async () => {
    const raw = withRawPeer({ maxHandshakeBytes: 100, secret: 's' })
    raw.connection.start()
    // A hello with a nonce (52 bytes) and a goodbye (64 bytes): each fits, together they do not.
    raw.send([MessageType.Hello, MAGIC, PROTOCOL_VERSION, new Uint8Array(32), {}])
    raw.send([MessageType.Goodbye, 'y'.repeat(60)])
    const error = await rejectionOf(raw.connection.ready)
    expect(error.message).toBe('more than 100 bytes sent before the handshake completed')
  })

  test("frames behind the peer's last handshake frame are not counted and may be as large as maxFrameSize", async () => {
    const raw = withRawPeer({ maxHandshakeBytes: 100 })
    const limits: number[] = []
    Object.assign(raw.transport, { limitFrameSize: (bytes: number) => limits.push(bytes) })
    raw.connection.start()
    expect(limits).toEqual([100])
    raw.send(raw.hello())
    raw.send([MessageType.Call, 1, 'big', ['z'.repeat(1000)]])
    await raw.connection.ready
    await raw.until('received')
    expect(raw.all('received')).toEqual([[MessageType.Call, 1, 'big', ['z'.repeat(1000)]]])
    // Lifted on the peer's hello, and again when the connection opened.
    expect(limits).toEqual([100, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE])
  })

  test('a goodbye during the handshake fails it with ChannelClosedError', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send([MessageType.Goodbye, null])
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toBe('the peer closed the connection during the handshake')
  })

  test('a wrong magic fails with ProtocolError', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send([MessageType.Hello, 'not-ipc', PROTOCOL_VERSION, null, {}])
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toBe('not an ipc-channel peer (magic "not-ipc")')
  })

  test('a transport that closes before the handshake rejects ready with ChannelClosedError, unreported', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.peer.close()
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toBe('the connection was lost')
    expect(await raw.ended()).toEqual({ reason: error, report: false, wasOpen: false })
  })

  test('the handshake times out with TimeoutError', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const raw = withRawPeer({ handshakeTimeout: 1000 })
    raw.connection.start()
    vi.advanceTimersByTime(999)
    await microtasks()
    expect(raw.log).toEqual([])
    vi.advanceTimersByTime(1)
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.message).toBe('handshake not completed within 1000 ms')
    expect(await raw.ended()).toEqual({ reason: error, report: true, wasOpen: false })
  })

  test('a peer that proves a wrong secret and hangs up at once still fails with AuthenticationError', async () => {
    const raw = withRawPeer({ secret: 'right' })
    const codec = new Codec()
    const peerHandshake = new Handshake('client', secretBytes('wrong'), {})
    // The peer answers our hello with its proof and closes the transport straight after it. It reads
    // our hello only: our proof may arrive while it still computes its own, and it hangs up anyway.
    const started = pDefer<void>()
    let helloRead = false
    raw.peer.sink = {
      message: (payload) => {
        if (helloRead) return
        helloRead = true
        void peerHandshake.receive(codec.decode(payload as Uint8Array) as unknown[], (auth) => {
          raw.peer.send(codec.encode(auth))
          raw.peer.close()
          started.resolve()
        })
      },
      closed: () => {},
      drain: () => {},
    }
    raw.connection.start()
    raw.peer.send(codec.encode(peerHandshake.hello()))
    await started.promise
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(AuthenticationError)
    expect(error.message).toBe('the peer failed to prove the secret')
    expect(await raw.ended()).toEqual({ reason: error, report: true, wasOpen: false })
  })

  /**
   * A raw peer with the secret `peerSecret` that has already computed its proof for this side's hello:
   * its hello, its proof and its hang-up then all arrive while this side still checks the hello (Web
   * Crypto completes on a later turn of the event loop, the frames and the close in microtasks).
   */
  async function proofAndHangUpDuringCrypto(peerSecret: string) {
    const raw = withRawPeer({ secret: 'right' })
    const peerHandshake = new Handshake('client', secretBytes(peerSecret), {})
    raw.connection.start()
    await microtasks()
    expect(raw.received).toHaveLength(1)
    let auth: unknown[] | undefined
    await peerHandshake.receive(raw.received[0], (message) => {
      auth = message
    })
    raw.send(peerHandshake.hello())
    raw.send(auth!)
    raw.peer.close()
    return raw
  }

  test('a transport that closes while the handshake awaits crypto never opens, even behind a valid proof', async () => {
    const raw = await proofAndHangUpDuringCrypto('right')
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toBe('the connection was lost')
    expect(await raw.ended()).toEqual({ reason: error, report: false, wasOpen: false })
    expect(raw.all('opened')).toEqual([])
    expect(raw.connection.open).toBe(false)
  })

  test('a wrong proof queued before the transport closed during crypto is still checked: AuthenticationError', async () => {
    const raw = await proofAndHangUpDuringCrypto('wrong')
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(AuthenticationError)
    expect(error.message).toBe('the peer failed to prove the secret')
    expect(await raw.ended()).toEqual({ reason: error, report: true, wasOpen: false })
    expect(raw.all('opened')).toEqual([])
  })
})

describe('limits announced in the hello', () => {
  test('a stream window above 65536 is a ProtocolError', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello({ window: MAX_STREAM_WINDOW + 1 }))
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toBe('hello announces a stream window of 65537, above the maximum of 65536')
    expect(await raw.ended()).toEqual({ reason: error, report: true, wasOpen: false })
    expect(raw.all('opened')).toEqual([])
  })

  test('a maxFrameSize below 1024 is a ProtocolError', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello({ maxFrameSize: MIN_FRAME_SIZE - 1 }))
    const error = await rejectionOf(raw.connection.ready)
    expect(error).toBeInstanceOf(ProtocolError)
    expect(error.message).toBe('hello announces a maxFrameSize of 1023, below the minimum of 1024')
    expect(await raw.ended()).toEqual({ reason: error, report: true, wasOpen: false })
  })

  test('the limits are checked before any proof is computed', async () => {
    const raw = withRawPeer({ secret: 's' })
    raw.connection.start()
    raw.send([MessageType.Hello, MAGIC, PROTOCOL_VERSION, new Uint8Array(32).fill(1), { maxFrameSize: 1 }])
    const error = await rejectionOf(raw.connection.ready)
    expect(error.message).toBe('hello announces a maxFrameSize of 1, below the minimum of 1024')
    // Only this side's hello went out: no auth.
    await raw.peerClosed
    expect(raw.received.map((message) => message[0])).toEqual([MessageType.Hello])
  })

  test('a window of 65536 and a maxFrameSize of 1024 are taken', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello({ window: MAX_STREAM_WINDOW, maxFrameSize: MIN_FRAME_SIZE }))
    await raw.connection.ready
    expect(raw.all('opened')).toEqual([{ options: { window: 65_536, maxFrameSize: 1024 }, features: new Set() }])
  })

  test('values that are not whole numbers of at least 1 are ignored, as if not announced', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello({ window: 1.5, maxFrameSize: 0 }))
    await raw.connection.ready
    expect(raw.all('opened')).toEqual([{ options: {}, features: new Set() }])
  })

  test('between two connections, the largest window and the smallest frame limit open', async () => {
    const { server, client } = connectionPair({ streamWindow: MAX_STREAM_WINDOW, maxFrameSize: MIN_FRAME_SIZE }, {})
    await Promise.all([server.connection.ready, client.connection.ready])
    expect(client.all('opened')).toEqual([
      {
        options: { window: 65_536, maxFrameSize: 1024, features: ['references', 'describe'], maxReferences: 100_000, role: 'server' },
        features: new Set(['references', 'describe']),
      },
    ])
  })
})

describe('the backlog behind the handshake', () => {
  test('frames that arrived with the handshake wait one macrotask, in order with later ones', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello())
    raw.send([MessageType.Call, 1, 'first', []])
    await raw.connection.ready
    raw.send([MessageType.Call, 2, 'second', []])
    await microtasks()
    // Open, but the peer's first calls wait for code that awaited the connection to expose its handlers.
    expect(raw.all('received')).toEqual([])
    await nextMacrotask()
    expect(raw.all('received')).toEqual([
      [MessageType.Call, 1, 'first', []],
      [MessageType.Call, 2, 'second', []],
    ])
    // After the backlog, frames are delivered as they arrive.
    raw.send([MessageType.Ping, 3])
    await raw.until('received', 3)
    expect(raw.all('received')[2]).toEqual([MessageType.Ping, 3])
  })

  test('each message reaches the owner with the byte size of its frame, from the backlog and after it', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello())
    const codec = new Codec()
    const first = codec.encode([MessageType.Call, 1, 'first', ['x'.repeat(300)]])
    const second = codec.encode([MessageType.Notify, 'second', []])
    raw.inject(first)
    await raw.connection.ready
    raw.inject(second)
    await raw.until('received', 2)
    expect(raw.sizes).toEqual([first.byteLength, second.byteLength])
    expect(first.byteLength).toBeGreaterThan(300)
  })

  test('without frames behind the handshake, the first frame is delivered as it arrives', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello())
    await raw.connection.ready
    await nextMacrotask()
    raw.send([MessageType.Ping, 1])
    await raw.until('received')
    expect(raw.all('received')).toEqual([[MessageType.Ping, 1]])
  })

  test('a transport that closes while frames wait delivers them before it ends', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello())
    raw.send([MessageType.Result, 1, 'answer'])
    await raw.connection.ready
    raw.peer.close()
    const ended = await raw.ended()
    expect(raw.log.map((entry) => entry[0])).toEqual(['opened', 'received', 'ended'])
    expect(ended.wasOpen).toBe(true)
  })

  test('frames that wait are dropped when the connection starts closing', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello())
    raw.send([MessageType.Call, 1, 'first', []])
    await raw.connection.ready
    raw.connection.closing(undefined)
    await nextMacrotask()
    expect(raw.all('received')).toEqual([])
  })

  test('a malformed frame in the backlog ends the connection, and the frames behind it are dropped', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.send(raw.hello())
    raw.send([MessageType.Ping, 1])
    raw.send([MessageType.Ping, 'bad token'])
    raw.send([MessageType.Ping, 3])
    await raw.connection.ready
    const ended = await raw.ended()
    expect(ended.reason!.message).toBe('malformed ping message')
    expect(raw.log.map((entry) => entry[0])).toEqual(['opened', 'received', 'ended'])
    expect(raw.all('received')).toEqual([[MessageType.Ping, 1]])
  })

  test('frames that wait behind a handshake that fails are dropped', async () => {
    const raw = withRawPeer({ secret: 's' })
    raw.connection.start()
    raw.send([MessageType.Hello, MAGIC, PROTOCOL_VERSION, new Uint8Array(32).fill(1), {}])
    raw.send([MessageType.Auth, new Uint8Array(32)])
    raw.send([MessageType.Call, 1, 'early', []])
    await rejectionOf(raw.connection.ready)
    await raw.ended()
    await nextMacrotask()
    expect(raw.all('received')).toEqual([])
  })
})

describe('an open connection', () => {
  /** A raw peer whose connection has opened and has no backlog. */
  async function opened(options: ChannelOptions = {}) {
    const raw = withRawPeer(options)
    raw.connection.start()
    raw.send(raw.hello())
    await raw.connection.ready
    return raw
  }

  test('a malformed frame fails the connection with ProtocolError, reported', async () => {
    const raw = await opened()
    raw.send([MessageType.Call, 'not an id', 'name', []])
    const ended = await raw.ended()
    expect(ended.reason).toBeInstanceOf(ProtocolError)
    expect(ended.reason!.message).toBe('malformed call message')
    expect(ended).toMatchObject({ report: true, wasOpen: true })
    expect(raw.all('received')).toEqual([])
    await raw.peerClosed
  })

  test('a frame that is not CBOR fails the connection with ProtocolError', async () => {
    const raw = await opened()
    raw.inject(new Uint8Array([0x82, 0x02]))
    const ended = await raw.ended()
    expect(ended.reason).toBeInstanceOf(ProtocolError)
    expect(ended.report).toBe(true)
  })

  test('a ProtocolError thrown by the owner fails the connection; any other error is reported and it stays open', async () => {
    const raw = await opened()
    const bug = new Error('a bug of ours')
    raw.owner.received = (message) => {
      if (message[0] === MessageType.Ping) throw bug
      throw new ProtocolError('stream 1 sent more items than its credit allows')
    }
    raw.send([MessageType.Ping, 1])
    await raw.until('report')
    expect(raw.all('report')).toEqual([bug])
    expect(raw.connection.open).toBe(true)
    raw.send([MessageType.Item, 1, 'x'])
    const ended = await raw.ended()
    expect(ended.reason!.message).toBe('stream 1 sent more items than its credit allows')
    expect(ended.report).toBe(true)
  })

  test('ended is called exactly once, and nothing after it', async () => {
    const raw = await opened()
    raw.send([MessageType.Call, -1, 'bad', []])
    await raw.ended()
    await raw.peerClosed
    const entries = raw.log.length
    const sink = raw.transport.sink!
    sink.message(raw.encoder.ping(1))
    sink.drain()
    sink.closed(new Error('again'))
    raw.connection.fail(new ProtocolError('late'))
    raw.connection.closing(undefined)
    await nextMacrotask()
    expect(raw.log).toHaveLength(entries)
    expect(raw.all('ended')).toHaveLength(1)
    expect(raw.connection.open).toBe(false)
  })

  test('closing() makes later frames ignored, and close() ends it unreported', async () => {
    const raw = await opened()
    raw.connection.closing(undefined)
    expect(raw.connection.open).toBe(false)
    raw.send([MessageType.Ping, 1])
    raw.send([MessageType.Call, 'malformed', 'x', []])
    await microtasks()
    // The connection can still write its last frames.
    expect(raw.connection.send(raw.encoder.goodbye())).toBe(true)
    raw.connection.close()
    expect(await raw.ended()).toEqual({ reason: undefined, report: false, wasOpen: true })
    expect(raw.all('received')).toEqual([])
    expect(raw.received.at(-1)).toEqual([MessageType.Goodbye, null])
  })

  test('closing() with an error, then destroy(), ends with that error, unreported', async () => {
    const raw = await opened()
    const reason = new Error('shutting down')
    raw.connection.closing(reason)
    raw.connection.destroy(reason)
    expect(await raw.ended()).toEqual({ reason, report: false, wasOpen: true })
  })

  test('closeQuietly ends with its reason, unreported', async () => {
    const raw = await opened()
    const reason = new ChannelClosedError('the peer closed the channel')
    raw.connection.closeQuietly(reason)
    expect(await raw.ended()).toEqual({ reason, report: false, wasOpen: true })
  })

  test('frames still in flight when this side decided to end do not count', async () => {
    const raw = await opened()
    // Sent before the close, delivered before the transport has closed.
    raw.send([MessageType.Ping, 1])
    raw.connection.closeQuietly(new ChannelClosedError('the peer closed the channel'))
    await raw.ended()
    expect(raw.all('received')).toEqual([])
  })

  test('a transport error is the reason; it is reported only when it is a ProtocolError', async () => {
    const first = await opened()
    const reset = new Error('ECONNRESET')
    first.transport.destroy(reset)
    expect(await first.ended()).toEqual({ reason: reset, report: false, wasOpen: true })
    const second = await opened()
    const oversized = new ProtocolError('frame of 5 bytes exceeds the limit of 4 bytes')
    second.transport.destroy(oversized)
    expect(await second.ended()).toEqual({ reason: oversized, report: true, wasOpen: true })
  })

  test('drain reaches the owner only while open', async () => {
    const raw = withRawPeer()
    raw.connection.start()
    raw.connection.drain()
    raw.send(raw.hello())
    await raw.connection.ready
    raw.connection.drain()
    raw.connection.closing(undefined)
    raw.connection.drain()
    expect(raw.all('drained')).toHaveLength(1)
  })

  test('backpressure pauses and resumes reading once per change', async () => {
    const raw = await opened()
    const calls: string[] = []
    Object.assign(raw.transport, { pause: () => calls.push('pause'), resume: () => calls.push('resume') })
    raw.connection.backpressure(true)
    raw.connection.backpressure(true)
    raw.connection.backpressure(false)
    raw.connection.backpressure(false)
    raw.connection.backpressure(true)
    expect(calls).toEqual(['pause', 'resume', 'pause'])
  })

  test('backpressure does nothing on a transport that cannot pause', async () => {
    const raw = await opened()
    expect(() => raw.connection.backpressure(true)).not.toThrow()
  })
})

describe('heartbeat', () => {
  test('pings through the owner once open, and a silent peer fails the connection with TimeoutError', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    const raw = withRawPeer({ heartbeat: { interval: 100, timeout: 250 } })
    raw.connection.start()
    raw.send(raw.hello())
    await raw.connection.ready
    vi.advanceTimersByTime(100)
    expect(raw.all('sendFrame')).toEqual([[MessageType.Ping, 1]])
    // A frame from the peer is a sign of life.
    raw.send([MessageType.Pong, 1])
    await raw.until('received')
    vi.advanceTimersByTime(200)
    expect(raw.all('sendFrame')).toEqual([
      [MessageType.Ping, 1],
      [MessageType.Ping, 2],
      [MessageType.Ping, 3],
    ])
    expect(raw.all('ended')).toEqual([])
    vi.advanceTimersByTime(200)
    const ended = await raw.ended()
    expect(ended.reason).toBeInstanceOf(TimeoutError)
    expect(ended.reason!.message).toBe('the peer sent nothing for 300 ms (heartbeat timeout 250 ms)')
    expect(ended).toMatchObject({ report: true, wasOpen: true })
  })

  test('stops when the connection is closing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    const raw = withRawPeer({ heartbeat: { interval: 100, timeout: 250 } })
    raw.connection.start()
    raw.send(raw.hello())
    await raw.connection.ready
    raw.connection.closing(undefined)
    vi.advanceTimersByTime(1000)
    expect(raw.all('sendFrame')).toEqual([])
    expect(raw.all('ended')).toEqual([])
  })
})
