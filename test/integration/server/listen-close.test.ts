import { existsSync, linkSync, readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { ChannelClosedError, Server } from '../../../dist/index.js'
import { named, onWindows } from '../../helpers/platform.js'
import { tempDir, tempSocket } from '../../helpers/processes.js'

test('a handshakeTimeout that is not a positive number of milliseconds is refused with a RangeError, a string with a TypeError', () => {
  for (const handshakeTimeout of [0, -1, NaN, Infinity]) {
    expect(() => new Server(tempSocket(), { handshakeTimeout })).toThrow(RangeError)
  }
  expect(() => new Server(tempSocket(), { handshakeTimeout: '10' as unknown as number })).toThrow(
    new TypeError('handshakeTimeout must be a number of milliseconds, not the string "10"'),
  )
})

const overStale = 'listening is false until listen() has resolved, over a stale socket file or a fresh path'
test.skipIf(onWindows)(named(overStale, onWindows, 'Windows has no socket files'), async () => {
  const path = tempSocket()
  const stale = new Server(path)
  await stale.listen()
  // A second link to the socket survives its close, as the file of a killed server does.
  linkSync(path, `${path}.link`)
  await stale.close()
  renameSync(`${path}.link`, path)
  for (const fresh of [false, true]) {
    const server = new Server(fresh ? tempSocket() : path)
    const listening = server.listen()
    expect(server.listening).toBe(false)
    await listening
    expect(server.listening).toBe(true)
    await server.close()
    expect(server.listening).toBe(false)
  }
})

test('close() while listen() is binding: listen() rejects, nothing stays bound, no socket file is left', async () => {
  const path = tempSocket()
  const server = new Server(path)
  const listening = server.listen()
  await server.close()
  await expect(listening).rejects.toBeInstanceOf(ChannelClosedError)
  expect(server.listening).toBe(false)
  expect(existsSync(path)).toBe(false)
  // The address is free again.
  const next = new Server(path)
  await next.listen()
  await next.close()
})

const tooLong = 'a socket path longer than the platform allows is refused with a RangeError; nothing is bound'
test.skipIf(onWindows)(named(tooLong, onWindows, 'pipe names have no socket path limit'), async () => {
  const dir = tempDir()
  // Node would bind to this path cut at 107 bytes (103 on macOS), a file the caller never named.
  const server = new Server(join(dir, 'a'.repeat(120)))
  await expect(server.listen()).rejects.toBeInstanceOf(RangeError)
  expect(server.listening).toBe(false)
  expect(readdirSync(dir)).toEqual([])
})
