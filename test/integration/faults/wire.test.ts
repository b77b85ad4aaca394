/**
 * Fault tests: hostile bytes on the wire, sent from raw sockets to a live server process. Oversized
 * frames, pre-authentication floods, peers that never speak, and small frames that cost the receiver
 * far more than they cost the sender.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, onTestFinished, test } from 'vitest'
import { Client } from '../../../dist/index.js'
import type { Report } from '../../helpers/mailbox.js'
import { MAGIC, MessageType, PROTOCOL_VERSION, encode, frame, header, helloFrame, messageFrame, rawConnect } from '../../helpers/wire.js'
import { startFaultServer, within, type FaultServer } from './support.js'

const KiB = 1024
const MiB = 1024 * KiB

/** A connected Client of the test process, destroyed after the test. */
async function goodClient(server: FaultServer, secret?: string): Promise<Client> {
  const client = new Client(server.path, { secret })
  client.on('error', () => {})
  onTestFinished(() => client.destroy())
  await client.ready()
  return client
}

/** Calls `add` in a loop until stopped; reports the slowest round trip and every failure. */
function keepCalling(client: Client): { stop(): Promise<{ calls: number; slowest: number; failures: unknown[] }> } {
  let running = true
  let calls = 0
  let slowest = 0
  const failures: unknown[] = []
  const loop = (async () => {
    while (running) {
      const started = Date.now()
      try {
        if ((await client.rpc('add', calls, 1)) !== calls + 1) failures.push(`wrong sum at ${calls}`)
      } catch (error) {
        // A call that fails at once would turn this loop into a microtask spin: stop on the first.
        failures.push(error)
        break
      }
      slowest = Math.max(slowest, Date.now() - started)
      calls++
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return { calls, slowest, failures }
    },
  }
}

describe('oversized frames', () => {
  test('a length prefix above maxFrameSize disconnects the peer before any payload is sent (first frame)', async () => {
    const server = await startFaultServer({ maxFrameSize: 1 * MiB })
    const peer = await rawConnect(server.path)
    peer.socket.write(header(1 * MiB + 1))
    await within(2000, peer.closed, 'the server closing the connection')
    expect(await server.mail.take('server-error')).toMatchObject({ name: 'ProtocolError' })
  })

  test('after the handshake too; a frame of exactly maxFrameSize is still accepted', async () => {
    const server = await startFaultServer({ maxFrameSize: 256 * KiB })
    const peer = await rawConnect(server.path)
    peer.socket.write(helloFrame())
    // The largest frame allowed: a call whose encoding is exactly maxFrameSize bytes.
    const overhead = encode([MessageType.Call, 1, 'echo', [Buffer.alloc(0)]]).byteLength
    const payload = Buffer.alloc(256 * KiB - overhead - 4, 9)
    const largest = encode([MessageType.Call, 1, 'echo', [payload]])
    expect(largest.byteLength).toBe(256 * KiB)
    peer.socket.write(frame(largest))
    const reply = await peer.receive((m) => m[0] === MessageType.Result && m[1] === 1)
    expect(Buffer.from(reply[2] as Uint8Array).equals(payload)).toBe(true)
    expect(peer.isClosed()).toBe(false)
    peer.socket.write(header(256 * KiB + 1))
    await within(2000, peer.closed, 'the server closing the connection')
    const disconnect = await server.mail.take<Report & { reason: { name: string; message: string } }>('disconnect')
    expect(disconnect.reason).toMatchObject({ name: 'ProtocolError' })
  })
})

describe('unauthenticated peers', () => {
  test('a hello larger than maxHandshakeBytes disconnects', async () => {
    const server = await startFaultServer({ secret: 's', maxHandshakeBytes: 16 * KiB })
    const peer = await rawConnect(server.path)
    peer.socket.write(messageFrame([MessageType.Hello, MAGIC, PROTOCOL_VERSION, randomBytes(32), { padding: 'x'.repeat(17 * KiB) }]))
    await within(2000, peer.closed, 'the server closing the connection')
    expect(await server.mail.take('server-error')).toMatchObject({ name: 'ProtocolError' })
  })

  test('a flood of frames behind the hello, before the handshake completes, disconnects', async () => {
    const server = await startFaultServer({ secret: 's', maxHandshakeBytes: 16 * KiB })
    const peer = await rawConnect(server.path)
    const flood = Array.from({ length: 4096 }, () => messageFrame([MessageType.Ping, 1]))
    peer.socket.write(Buffer.concat([messageFrame([MessageType.Hello, MAGIC, PROTOCOL_VERSION, randomBytes(32), {}]), ...flood]))
    await within(2000, peer.closed, 'the server closing the connection')
    expect(await server.mail.take('server-error')).toMatchObject({ name: 'ProtocolError' })
    // Nothing but handshake frames was accepted: no pong came back.
    expect(peer.messages.some((m) => Array.isArray(m) && m[0] === MessageType.Pong)).toBe(false)
  })

  test('one large frame that never completes is cut off once it passes maxHandshakeBytes, not at handshakeTimeout', async () => {
    // maxFrameSize is the default 64 MiB, so the 8 MiB frame is within it; only the pre-auth cap applies.
    const server = await startFaultServer({ secret: 's', maxHandshakeBytes: 16 * KiB, handshakeTimeout: 5000 })
    const peer = await rawConnect(server.path)
    const started = Date.now()
    peer.socket.write(header(8 * MiB))
    // 1 MiB of the announced 8 MiB, in 64 KiB pieces: sixty-four times the cap, and the frame is never complete.
    for (let i = 0; i < 16 && !peer.isClosed(); i++) peer.socket.write(Buffer.alloc(64 * KiB, 0x41))
    await within(4500, peer.closed, 'the server closing the connection')
    const elapsed = Date.now() - started
    const error = await server.mail.take<Report & { name: string; message: string }>('server-error')
    expect(error.name, `closed after ${elapsed} ms by ${error.name}: ${error.message}`).toBe('ProtocolError')
    expect(elapsed).toBeLessThan(1500)
  })

  test('a peer that connects and never speaks is dropped after handshakeTimeout', async () => {
    const server = await startFaultServer({ handshakeTimeout: 300 })
    const peer = await rawConnect(server.path)
    const started = Date.now()
    await within(3000, peer.closed, 'the server dropping the silent peer')
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(await server.mail.take('server-error')).toMatchObject({ name: 'TimeoutError' })
  })

  test('a peer that sends its hello but never its proof is dropped after handshakeTimeout', async () => {
    const server = await startFaultServer({ secret: 's', handshakeTimeout: 300 })
    const peer = await rawConnect(server.path)
    peer.socket.write(messageFrame([MessageType.Hello, MAGIC, PROTOCOL_VERSION, randomBytes(32), {}]))
    // The server answers with its own proof, then waits for ours.
    await peer.receive((m) => m[0] === MessageType.Auth)
    await within(3000, peer.closed, 'the server dropping the peer')
    expect(await server.mail.take('server-error')).toMatchObject({ name: 'TimeoutError' })
  })
})

/**
 * A self-referencing error envelope: CBOR value sharing (tags 28 and 29, which the decoder accepts)
 * makes `errors: [itself, itself]` a few bytes long.
 */
function selfReferencingEnvelope(): Buffer {
  return Buffer.concat([
    Buffer.from([0xd8, 28, 0xa4]),
    encode('type'),
    encode('error'),
    encode('name'),
    encode('Error'),
    encode('message'),
    encode('loop'),
    encode('errors'),
    Buffer.from([0x82, 0xd8, 29, 0x00, 0xd8, 29, 0x00]),
  ])
}

/** The raw CBOR of `[type, id, <raw>]`. */
function withRaw(type: number, id: number, raw: Buffer): Buffer {
  return frame(Buffer.concat([Buffer.from([0x83]), encode(type), encode(id), raw]))
}

describe('cheap frames that must not be expensive to receive', () => {
  test('a bignum in an unauthenticated hello does not stall the server', async () => {
    const server = await startFaultServer({ secret: 's' })
    const client = await goodClient(server, 's')
    const caller = keepCalling(client)
    // Tag 2 (unsigned bignum) over 60,000 bytes: within maxHandshakeBytes, sent before any proof.
    const bignum = Buffer.concat([Buffer.from([0xc2, 0x59, 60_000 >> 8, 60_000 & 0xff]), Buffer.alloc(60_000, 0xff)])
    const hello = frame(
      Buffer.concat([
        Buffer.from([0x85]),
        encode(MessageType.Hello),
        encode(MAGIC),
        encode(PROTOCOL_VERSION),
        encode(randomBytes(32)),
        Buffer.from([0xa1]),
        encode('big'),
        bignum,
      ]),
    )
    const attacker = await rawConnect(server.path)
    attacker.socket.write(hello)
    // Handshake frames are checked against their fixed shapes on the bytes, before cbor-x's quadratic
    // bignum decoding could run (and the profile check caps bignums at 1 KiB after the handshake): the
    // hello is refused at once.
    await within(3000, attacker.closed, 'the server dropping the attacker')
    expect(await server.mail.take('server-error')).toMatchObject({
      name: 'ProtocolError',
      message: 'malformed hello: tag 2 in a part that is ignored',
    })
    const { slowest, failures } = await caller.stop()
    expect(failures).toEqual([])
    expect(slowest, `a call took ${slowest} ms while the server refused a 60 KB bignum`).toBeLessThan(300)
  })

  test('a self-referencing error envelope in a reply does not hang the server', async () => {
    const server = await startFaultServer({ callOnConnect: 'whoami' })
    const client = await goodClient(server)
    const peer = await rawConnect(server.path)
    peer.socket.write(helloFrame())
    const call = await peer.receive((m) => m[0] === MessageType.Call && m[2] === 'whoami')
    peer.socket.write(withRaw(MessageType.Error, call[1] as number, selfReferencingEnvelope()))
    expect(await within(2000, client.rpc('add', 1, 2), 'a call after the reply')).toBe(3)
  })

  test('a self-referencing error envelope in a cancel does not hang the server', async () => {
    const server = await startFaultServer()
    const client = await goodClient(server)
    const peer = await rawConnect(server.path)
    peer.socket.write(helloFrame())
    peer.socket.write(messageFrame([MessageType.Call, 1, 'hold', ['cancel-me']]))
    await server.mail.take('held')
    peer.socket.write(withRaw(MessageType.Cancel, 1, selfReferencingEnvelope()))
    expect(await within(2000, client.rpc('add', 1, 2), 'a call after the cancel')).toBe(3)
  })
})
