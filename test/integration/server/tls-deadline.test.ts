/**
 * The handshake deadline of a TLS server covers the TLS handshake too. Raw TCP peers that never finish
 * it (silent, half a ClientHello, a ClientHello trickled a byte at a time) are closed by the server
 * within `handshakeTimeout`, while a good client connects and calls; a peer that finishes TLS slowly
 * and then says nothing has `handshakeTimeout` in all, not that much again after TLS.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { describe, expect, onTestFinished, test } from 'vitest'
import { spawnFixture } from '../../helpers/processes.js'
import { connectClient, nextMessage, within } from '../support.js'

const tlsFile = (name: string): Buffer => readFileSync(new URL(`../../fixtures/tls/${name}`, import.meta.url))

/** A TLS record header announcing 512 bytes, the start of a ClientHello and its random: 43 of 517 bytes. */
const HALF_CLIENT_HELLO = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), randomBytes(32)])

/** Starts test/fixtures/link-net-server.mjs with TLS on an ephemeral port of 127.0.0.1. */
async function startTlsServer(handshakeTimeout: number): Promise<{ address: string; port: number }> {
  const fixture = spawnFixture('link-net-server.mjs', [
    'tcp://127.0.0.1:0',
    JSON.stringify({ tls: { key: 'server.key', cert: 'server.crt' }, handshakeTimeout }),
  ])
  const { address } = await nextMessage<{ type: string; address: string }>(fixture, 'listening', 10_000)
  return { address, port: Number(/:(\d+)$/.exec(address)![1]) }
}

interface RawPeer {
  /** performance.now() when the TCP connection was made. */
  connectedAt: number
  /** Resolves with performance.now() when the socket has closed. */
  closed: Promise<number>
}

/** A raw TCP connection that never completes TLS; destroyed after the test if the server has not closed it. */
function rawPeer(port: number, behaviour: 'silent' | 'half-hello' | 'trickle'): Promise<RawPeer> {
  const socket: Socket = netConnect(port, '127.0.0.1')
  onTestFinished(() => {
    socket.destroy()
  })
  // The server's reset shows here as ECONNRESET (or EPIPE for a write): expected, not a failure.
  socket.on('error', () => {})
  let trickle: ReturnType<typeof setInterval> | undefined
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(trickle)
      resolve(performance.now())
    }),
  )
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      const connectedAt = performance.now()
      if (behaviour === 'half-hello') socket.write(HALF_CLIENT_HELLO)
      if (behaviour === 'trickle') {
        let sent = 0
        trickle = setInterval(() => socket.write(HALF_CLIENT_HELLO.subarray(sent, ++sent)), 100)
      }
      resolve({ connectedAt, closed })
    })
  })
}

describe('TLS handshake deadline', () => {
  test('raw TCP peers that do not finish TLS are closed within handshakeTimeout; a good client still calls', async () => {
    const handshakeTimeout = 1500
    const margin = 1000
    const { address, port } = await startTlsServer(handshakeTimeout)
    const behaviours = [
      ...Array<'silent'>(150).fill('silent'),
      ...Array<'half-hello'>(40).fill('half-hello'),
      ...Array<'trickle'>(10).fill('trickle'),
    ]
    const peers = await within(5000, Promise.all(behaviours.map((behaviour) => rawPeer(port, behaviour))), '200 TCP connections')
    // Meanwhile a real client completes TLS and the channel handshake, and calls.
    const client = await connectClient(address, { tls: { ca: tlsFile('ca.crt') } })
    expect(await within(5000, client.rpc('add', 1, 2), 'a call over TLS')).toBe(3)
    const closedAt = await within(
      handshakeTimeout + margin + 2000,
      Promise.all(peers.map((peer) => peer.closed)),
      'the server closing every raw peer',
    )
    const lifetimes = peers.map((peer, i) => closedAt[i] - peer.connectedAt)
    const longest = Math.max(...lifetimes)
    expect(longest).toBeLessThan(handshakeTimeout + margin)
    // The good connection outlives the deadline.
    expect(await within(5000, client.rpc('add', 2, 2), 'a call after the deadline')).toBe(4)
  })

  test('a peer that finishes TLS slowly and then stays silent has handshakeTimeout in all', async () => {
    const handshakeTimeout = 2000
    /** Each flight of the client is held back this long: TLS completes after two of them. */
    const delay = 600
    const { port } = await startTlsServer(handshakeTimeout)
    const raw = netConnect(port, '127.0.0.1')
    onTestFinished(() => {
      raw.destroy()
    })
    raw.on('error', () => {})
    const connectedAt = await within(5000, new Promise<number>((resolve) => raw.once('connect', () => resolve(performance.now()))), 'connect')
    const closed = new Promise<number>((resolve) => raw.once('close', () => resolve(performance.now())))
    // A TLS client whose every write reaches the socket `delay` ms late.
    const slow = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => raw.write(chunk, () => callback()), delay)
      },
    })
    raw.on('data', (chunk: Buffer) => slow.push(chunk))
    raw.on('end', () => slow.push(null))
    const tls = tlsConnect({ socket: slow, ca: tlsFile('ca.crt'), servername: 'localhost' })
    tls.on('error', () => {})
    onTestFinished(() => {
      tls.destroy()
    })
    const secureAt = await within(
      5000,
      new Promise<number>((resolve) => tls.once('secureConnect', () => resolve(performance.now()))),
      'the TLS handshake',
    )
    expect(secureAt - connectedAt).toBeGreaterThanOrEqual(delay)
    // No channel hello follows: the server drops the connection at the deadline counted from connect.
    const closedAt = await within(handshakeTimeout + 3000, closed, 'the server closing the connection')
    expect(closedAt - connectedAt).toBeLessThan(handshakeTimeout + delay)
  })
})
