import { expect, test } from 'vitest'
import { connect } from '../../../dist/index.js'
import { spawnFixture, tempSocket } from '../../helpers/processes.js'

// DESIGN's example exposes on the client after `await connect()`, while the server calls that very
// function from its 'connection' handler. The server's call can arrive in the same read as its last
// handshake frame; it must not be looked up before the awaiting code has run.
test('a function exposed right after await connect() receives the server’s first call', async () => {
  const path = tempSocket()
  const server = spawnFixture('race-server.mjs', [path, 's3cret'])
  expect(await server.message()).toBe('listening')
  for (let i = 0; i < 40; i++) {
    const client = await connect(path, { secret: 's3cret' })
    client.expose('notifyUser', (text: string) => `${text} #${i}`)
    expect(await server.message()).toEqual({ ok: `hello #${i}` })
    await client.close()
  }
  server.send('stop')
  expect(await server.exited).toBe(0)
})
