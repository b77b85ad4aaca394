import { existsSync } from 'node:fs'
import { expect, test } from 'vitest'
import { ChannelClosedError, Server } from '../../../dist/index.js'
import { tempSocket } from '../../helpers/processes.js'

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
