/**
 * Hostile bytes from raw `net` sockets against a fixture server process: the offending connection is
 * dropped, the server reports a ProtocolError, and a well-behaved client goes on calling undisturbed.
 */
import { describe, expect, test } from 'vitest'
import type { Client } from '../../../dist/index.js'
import { connectClient, nextMessage, startServer, within, type DescribedError, type FixtureMessage } from '../support.js'
import { mulberry32 } from '../../helpers/random.js'
import { frame, rawConnect } from '../../helpers/wire.js'

// ---- A few lines of hand-written CBOR, independent of the library's codec. ----

function cborText(text: string): number[] {
  const bytes = [...Buffer.from(text)]
  if (bytes.length >= 24) throw new RangeError('short strings only')
  return [0x60 + bytes.length, ...bytes]
}

const CBOR_NULL = 0xf6
const CBOR_EMPTY_MAP = 0xa0

/** `[0, magic, version, null, {}]`: a hello without a secret. */
function hello(magic = 'ipc-channel', version = 1): number[] {
  return [0x85, 0x00, ...cborText(magic), version, CBOR_NULL, CBOR_EMPTY_MAP]
}

/** Deterministic pseudo-random bytes (mulberry32), so a failure can be replayed. */
function randomBytes(seed: number, length: number): Buffer {
  const next = mulberry32(seed)
  const out = Buffer.alloc(length)
  for (let i = 0; i < length; i++) out[i] = (next() * 4294967296) & 0xff
  return out
}

interface RawResult {
  /** What the server sent before the connection closed. */
  received: Buffer
}

/** Connects a raw socket, writes `chunks` (optionally ending its side), and resolves once it closes. */
async function sendRaw(path: string, chunks: Buffer[], { end = false } = {}): Promise<RawResult> {
  const raw = await rawConnect(path)
  for (const chunk of chunks) raw.socket.write(chunk)
  if (end) raw.socket.end()
  await within(3000, raw.closed, 'the server dropping the raw connection')
  return { received: raw.received() }
}

interface Reported extends FixtureMessage {
  error: DescribedError
}

/** A well-behaved client calling in a loop until stopped; it records anything that goes wrong. */
function keepCalling(client: Client) {
  const problems: unknown[] = []
  client.on('error', (error) => problems.push(error))
  client.on('disconnect', (reason) => problems.push(reason ?? 'disconnect'))
  let stopped = false
  let calls = 0
  const loop = (async () => {
    while (!stopped) {
      try {
        const result = await client.rpc('add', calls, 1)
        if (result !== calls + 1) problems.push(`wrong result ${String(result)} for call ${calls}`)
      } catch (error) {
        problems.push(error)
        return
      }
      calls++
    }
  })()
  return {
    problems,
    async stop() {
      stopped = true
      await loop
      return calls
    },
  }
}

async function setup() {
  const { fixture, path } = await startServer()
  const client = await connectClient(path)
  await nextMessage(fixture, 'connection')
  const caller = keepCalling(client)
  return { fixture, path, client, caller }
}

/** After the junk: the good client never failed, and the server process is alive and accepts more clients. */
async function expectServerUnharmed({ fixture, path, caller }: Awaited<ReturnType<typeof setup>>) {
  const calls = await caller.stop()
  expect(caller.problems).toEqual([])
  expect(calls).toBeGreaterThan(0)
  expect(fixture.child.exitCode).toBeNull()
  expect(fixture.child.signalCode).toBeNull()
  const another = await connectClient(path)
  expect(await another.rpc('add', 20, 22)).toBe(42)
  await nextMessage(fixture, 'connection')
  fixture.send({ cmd: 'channels' })
  expect(await nextMessage(fixture, 'channels')).toMatchObject({ count: 2 })
}

describe('junk from raw sockets', () => {
  test('random bytes: each connection is dropped with a ProtocolError and the good client keeps calling', async () => {
    const context = await setup()
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8]
    const reports = seeds.map(() => nextMessage<Reported>(context.fixture, 'server-error'))
    // Framed, so that the random payload is actually decoded; sent concurrently.
    const results = await Promise.all(seeds.map((seed) => sendRaw(context.path, [frame(randomBytes(seed, 64 + seed * 37))])))
    // The server spoke first: its own hello names the protocol.
    for (const { received } of results) expect(received.includes(Buffer.from('ipc-channel'))).toBe(true)
    for (const { error } of await Promise.all(reports)) {
      expect(error).toMatchObject({ name: 'ProtocolError', code: 'ERR_PROTOCOL', protocol: true })
    }
    await expectServerUnharmed(context)
  })

  test('random bytes without framing are dropped without harming the server', async () => {
    const context = await setup()
    // Whatever length the first four random bytes announce, ending our side ends the connection.
    await sendRaw(context.path, [randomBytes(99, 4096)], { end: true })
    await expectServerUnharmed(context)
  })

  test('a hello with a bad magic is a ProtocolError', async () => {
    const context = await setup()
    const report = nextMessage<Reported>(context.fixture, 'server-error')
    await sendRaw(context.path, [frame(hello('not-ipc'))])
    const { error } = await report
    expect(error).toMatchObject({ name: 'ProtocolError', code: 'ERR_PROTOCOL', protocol: true })
    expect(error.message).toMatchInlineSnapshot(`"not an ipc-channel peer (magic "not-ipc")"`)
    await expectServerUnharmed(context)
  })

  test('a hello with another protocol version is a ProtocolError', async () => {
    const context = await setup()
    const report = nextMessage<Reported>(context.fixture, 'server-error')
    await sendRaw(context.path, [frame(hello('ipc-channel', 9))])
    const { error } = await report
    expect(error).toMatchObject({ name: 'ProtocolError', code: 'ERR_PROTOCOL' })
    expect(error.message).toMatchInlineSnapshot(`"protocol version mismatch: this side speaks 1, the peer 9"`)
    await expectServerUnharmed(context)
  })

  test('an oversized length prefix is a ProtocolError before anything is allocated', async () => {
    const context = await setup()
    const reports = [nextMessage<Reported>(context.fixture, 'server-error'), nextMessage<Reported>(context.fixture, 'server-error')]
    await Promise.all([
      sendRaw(context.path, [Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])]),
      sendRaw(context.path, [Buffer.from([0x04, 0x00, 0x00, 0x01])]),
    ])
    const messages = (await Promise.all(reports)).map(({ error }) => {
      expect(error).toMatchObject({ name: 'ProtocolError', code: 'ERR_PROTOCOL' })
      return error.message
    })
    expect(messages.sort()).toMatchInlineSnapshot(`
      [
        "frame of 4294967295 bytes exceeds the limit of 65536 bytes",
        "frame of 67108865 bytes exceeds the limit of 65536 bytes",
      ]
    `)
    await expectServerUnharmed(context)
  })

  test('a message before the hello is a ProtocolError', async () => {
    const context = await setup()
    const report = nextMessage<Reported>(context.fixture, 'server-error')
    // [2, 1, "add", [1, 2]]: a call, without any handshake.
    await sendRaw(context.path, [frame([0x84, 0x02, 0x01, ...cborText('add'), 0x82, 0x01, 0x02])])
    expect((await report).error).toMatchObject({ name: 'ProtocolError', code: 'ERR_PROTOCOL' })
    await expectServerUnharmed(context)
  })

  test('garbage after a valid handshake closes that channel and the server reports a ProtocolError', async () => {
    const context = await setup()
    const raw = await rawConnect(context.path)
    raw.socket.write(frame(hello()))
    // The raw peer passed the handshake: the server announced a second channel.
    expect(await within(2000, nextMessage(context.fixture, 'connection'), 'the connection event')).toMatchObject({ count: 2 })
    // A message of an unknown type (99).
    raw.socket.write(frame([0x81, 0x18, 0x63]))
    await within(2000, raw.closed, 'the server dropping the raw connection')
    const disconnect = await within(2000, nextMessage<Reported>(context.fixture, 'disconnect'), 'the disconnect event')
    expect(disconnect.reason).toMatchObject({ name: 'ProtocolError', code: 'ERR_PROTOCOL', message: 'unknown message type 99' })
    // The channel itself emits the error...
    const channelError = await within(2000, nextMessage<Reported>(context.fixture, 'channel-error'), 'the channel error event')
    expect(channelError.error).toMatchObject({ name: 'ProtocolError', message: 'unknown message type 99' })
    // ...and so must the server, for a peer that broke the protocol.
    const serverError = await within(1000, nextMessage<Reported>(context.fixture, 'server-error'), 'the server error event')
    expect(serverError.error).toMatchObject({ name: 'ProtocolError', message: 'unknown message type 99' })
    await expectServerUnharmed(context)
  })

  test('garbage in the same write as a valid hello is reported as a ProtocolError', async () => {
    const context = await setup()
    // Hello and a malformed call (id must be an integer) leave in one chunk, before the handshake completes.
    await sendRaw(context.path, [Buffer.concat([frame(hello()), frame([0x84, 0x02, ...cborText('x'), ...cborText('add'), 0x80])])])
    const serverError = await within(1000, nextMessage<Reported>(context.fixture, 'server-error'), 'the server error event')
    expect(serverError.error).toMatchObject({ name: 'ProtocolError', message: 'malformed call message' })
    await expectServerUnharmed(context)
  })
})
