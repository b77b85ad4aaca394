/**
 * Hostile peers and references: a raw socket that announced the references feature forges ids,
 * floods releases and signals, and exports more than the server accepts to a real server process
 * (test/fixtures/hostile-server.mjs); the test checks the answers, and measures the server's memory
 * and event loop.
 */
import { Tag } from 'cbor-x'
import { describe, expect, test } from 'vitest'
import { mailbox, type Mailbox, type Report } from '../../helpers/mailbox.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'
import { MessageType, encode, frame, helloFrame, messageFrame, rawConnect, type RawPeer } from '../../helpers/wire.js'
import type { Memory } from '../faults/support.js'

const MiB = 1024 * 1024
/** The reference tag (PROTOCOL.md section 17.2). */
const REFERENCE_TAG = 0xc0de
const CallReference = 14
const Release = 15
const Signal = 16

/** A reference tag of `kind` and `id`, as a peer would write it. */
const reference = (kind: number, id: number): Tag => new Tag([kind, id], REFERENCE_TAG)

/** The hello of a raw peer that supports references and accepts `maxReferences` of this side's. */
const referencesHello = (maxReferences = 1000): Buffer => helloFrame({ window: 64, features: ['references'], maxReferences })

interface Stats extends Report {
  stats: {
    channels: number
    references: { exportedReferences: number; importedReferences: number }[]
    errors: Record<string, number>
  }
  memory: Memory
  stall: number
}

interface HostileServer {
  path: string
  mail: Mailbox
  baseline: Memory
  stats(): Promise<Stats>
}

async function startServer(options: Record<string, unknown> = {}): Promise<HostileServer> {
  const path = tempSocket()
  const mail = mailbox(spawnFixture('hostile-server.mjs', [path, JSON.stringify(options)]))
  const listening = await mail.take<Report & { memory: Memory }>('listening', 15_000)
  return { path, mail, baseline: listening.memory, stats: () => mail.ask<Stats>({ cmd: 'stats' }, 'stats', 10_000) }
}

function grown(now: Memory, before: Memory): number {
  return now.heapUsed + now.external - (before.heapUsed + before.external)
}

/** The answer to call `id`. */
function answer(peer: RawPeer, id: number): Promise<unknown[]> {
  return peer.receive((m) => (m[0] === MessageType.Result || m[0] === MessageType.Error) && m[1] === id, 15_000)
}

describe('ids checked like call ids', () => {
  test('a call through an id never given, or released, is answered with ERR_REFERENCE_RELEASED; the connection goes on', async () => {
    const server = await startServer()
    const peer = await rawConnect(server.path)
    peer.socket.write(Buffer.concat([referencesHello(), messageFrame([CallReference, 1, 4242, null, []])]))
    const [, , unknown] = await answer(peer, 1)
    expect(unknown).toMatchObject({ name: 'ReferenceReleasedError', props: { code: 'ERR_REFERENCE_RELEASED' } })

    // A real export: callable as itself, not as an object.
    peer.socket.write(messageFrame([MessageType.Call, 2, 'giveFunction', []]))
    const given = (await answer(peer, 2))[2] as Tag
    expect(given).toBeInstanceOf(Tag)
    expect(given.tag).toBe(REFERENCE_TAG)
    const [kind, id] = given.value as [number, number]
    expect(kind).toBe(0)
    peer.socket.write(Buffer.concat([messageFrame([CallReference, 3, id, null, []]), messageFrame([CallReference, 4, id, 'constructor', []])]))
    expect(await answer(peer, 3)).toEqual([MessageType.Result, 3, 'exported'])
    expect((await answer(peer, 4))[2]).toMatchObject({ name: 'MethodNotFoundError' })

    // Released (twice: a release is idempotent), it is gone.
    peer.socket.write(
      Buffer.concat([messageFrame([Release, [id, 1]]), messageFrame([Release, [id, 1]]), messageFrame([CallReference, 5, id, null, []])]),
    )
    expect((await answer(peer, 5))[2]).toMatchObject({ name: 'ReferenceReleasedError' })
    peer.socket.write(messageFrame([MessageType.Call, 6, 'echo', ['still open']]))
    expect(await answer(peer, 6)).toEqual([MessageType.Result, 6, 'still open'])
    expect((await server.stats()).stats.references).toEqual([{ exportedReferences: 0, importedReferences: 0 }])
  })

  test('a forged reference to one of the server exports closes the connection with ProtocolError', async () => {
    const server = await startServer()
    const peer = await rawConnect(server.path)
    peer.socket.write(Buffer.concat([referencesHello(), messageFrame([MessageType.Call, 1, 'echo', [reference(3, 77)]])]))
    expect(await server.mail.take('server-error')).toMatchObject({
      name: 'ProtocolError',
      message: 'the peer sent back reference 77, which this side does not export to it',
    })
    await peer.closed
  })

  test('malformed reference contents close the connection with ProtocolError', async () => {
    for (const content of [[9, 1], [0, 0], [0, -1], [0, 2 ** 32], [0, 1.5], [0], 'x', [0, 1, 2]]) {
      const server = await startServer()
      const peer = await rawConnect(server.path)
      peer.socket.write(Buffer.concat([referencesHello(), messageFrame([MessageType.Call, 1, 'echo', [new Tag(content, REFERENCE_TAG)]])]))
      expect(await server.mail.take('server-error'), JSON.stringify(content)).toMatchObject({ name: 'ProtocolError' })
      await peer.closed
    }
  })

  test('without the feature, a reference tag or a message of the feature closes the connection', async () => {
    const server = await startServer()
    const tagged = await rawConnect(server.path)
    tagged.socket.write(Buffer.concat([helloFrame(), messageFrame([MessageType.Call, 1, 'echo', [reference(0, 1)]])]))
    expect(await server.mail.take('server-error')).toMatchObject({
      name: 'ProtocolError',
      message: 'malformed CBOR payload: tag 49374 is not allowed',
    })
    await tagged.closed
    const release = await rawConnect(server.path)
    release.socket.write(Buffer.concat([helloFrame(), messageFrame([Release, [1, 1]])]))
    expect(await server.mail.take('server-error')).toMatchObject({
      name: 'ProtocolError',
      message: 'message type 15 sent without the references feature',
    })
    await release.closed
  })
})

describe('bounds', () => {
  test('a peer that exports more than maxReferences is cut off; memory and the event loop stay near idle', async () => {
    const server = await startServer({ maxReferences: 1000 })
    const peer = await rawConnect(server.path)
    const frames = [referencesHello()]
    // 1,000 references held by the server's `hold`, then one more.
    for (let call = 0; call < 10; call++) {
      frames.push(messageFrame([MessageType.Call, call + 1, 'hold', Array.from({ length: 100 }, (_, i) => reference(0, call * 100 + i + 1))]))
    }
    peer.socket.write(Buffer.concat(frames))
    await answer(peer, 10)
    expect((await server.stats()).stats.references).toEqual([{ exportedReferences: 0, importedReferences: 1000 }])
    // One frame of 100,000 more: refused at the first one beyond the bound.
    peer.socket.write(messageFrame([MessageType.Call, 11, 'hold', Array.from({ length: 100_000 }, (_, i) => reference(1, 5000 + i))]))
    expect(await server.mail.take('server-error')).toMatchObject({
      name: 'ProtocolError',
      message: 'the peer exported more than 1000 references at once (maxReferences)',
    })
    await peer.closed
    const { memory, stall, stats } = await server.stats()
    expect(stats.channels).toBe(0)
    expect(grown(memory, server.baseline)).toBeLessThan(16 * MiB)
    expect(stall).toBeLessThan(1000)
  })

  test('floods of releases and signals for ids that do not exist leave nothing behind', async () => {
    const server = await startServer()
    const peer = await rawConnect(server.path)
    peer.socket.write(Buffer.concat([referencesHello(), messageFrame([MessageType.Call, 1, 'giveFunction', []])]))
    const [, id] = ((await answer(peer, 1))[2] as Tag).value as [number, number]
    await server.stats()
    // 40 frames of 50,000 release pairs each (2,000,000 ids, counts up to 2^32-1), and 100,000 signals.
    const pairs = Array.from({ length: 100_000 }, (_, i) => (i % 2 === 0 ? id + 1 + i : 2 ** 32 - 1))
    const releases = frame(encode([Release, pairs]))
    for (let i = 0; i < 40; i++) peer.socket.write(releases)
    const signal = frame(encode([Signal, id + 1, { type: 'value', value: 'x' }]))
    peer.socket.write(Buffer.concat(Array(100_000).fill(signal)))
    // The server's own export is still there: nothing released it.
    peer.socket.write(messageFrame([CallReference, 2, id, null, []]))
    expect(await answer(peer, 2)).toEqual([MessageType.Result, 2, 'exported'])
    const { memory, stall, stats } = await server.stats()
    expect(stats.references).toEqual([{ exportedReferences: 1, importedReferences: 0 }])
    expect(grown(memory, server.baseline)).toBeLessThan(16 * MiB)
    expect(stall).toBeLessThan(1000)
  })
})
