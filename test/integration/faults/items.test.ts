/**
 * Fault tests: one frame of many tiny items, which used to cost the receiving server about 115 bytes of
 * memory per byte received and seconds of event loop. The item budget (2^20 data items per frame)
 * refuses it at the array head, before anything is built.
 */
import { describe, expect, onTestFinished, test } from 'vitest'
import { Client } from '../../../dist/index.js'
import { frame, helloFrame, rawConnect } from '../../helpers/wire.js'
import { startFaultServer, within } from './support.js'

const MiB = 1024 * 1024

/** `[2, 1, "echo", [item × n]]`. */
function callOf(item: number[], n: number): Buffer {
  const head = [0x84, 0x02, 0x01, 0x64, ...Buffer.from('echo'), 0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
  const payload = Buffer.alloc(head.length + n * item.length)
  payload.set(head)
  for (let i = 0; i < n; i++) payload.set(item, head.length + i * item.length)
  return payload
}

describe('a frame of tiny items', () => {
  test.each([
    ['empty byte strings', [0x40]],
    ['empty arrays', [0x80]],
    ['empty maps', [0xa0]],
    ['empty text strings', [0x60]],
  ])('4 MiB of %s closes that connection with a ProtocolError; the server stays small and serves others', async (label, item) => {
    const server = await startFaultServer({ heartbeat: false })
    const client = new Client(server.path)
    client.on('error', () => {})
    onTestFinished(() => client.destroy())
    await client.ready()
    const { memory: baseline } = await server.stats()

    const attacker = await rawConnect(server.path)
    attacker.socket.write(helloFrame())
    const payload = callOf(item, 4 * MiB)
    const started = Date.now()
    attacker.socket.write(frame(payload))
    const report = await server.mail.take('server-error', 15_000)
    expect(report).toMatchObject({ name: 'ProtocolError', message: 'payload refused: more than 1048576 data items (maxFrameItems)' })
    await within(5000, attacker.closed, 'the server dropping the attacker')
    const refusedMs = Date.now() - started

    expect(await within(5000, client.rpc('add', 2, 3), 'a call from another client')).toBe(5)
    const { memory, stats } = await server.stats()
    const grown = memory.rss - baseline.rss
    console.log(
      `${payload.byteLength} bytes of ${label}: refused within ${refusedMs} ms, server RSS ${grown >= 0 ? '+' : ''}${(grown / MiB).toFixed(1)} MiB`,
    )
    // Before the budget the server grew by some 460 MiB here; now it holds the frame (4 MiB) at most.
    expect(grown).toBeLessThan(64 * MiB)
    expect(stats.unexpected).toEqual([])
  })
})
