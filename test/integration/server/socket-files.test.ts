/**
 * Socket files on disk: stale files left by a killed server, a live server's path, cleanup on close,
 * files that are not sockets, and the owner-only modes of ipcPath(). On Windows the same paths name
 * pipes: what concerns files and modes is skipped there, the rest runs over the pipes.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { dirname, join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { listen, type Server } from '../../../dist/index.js'
import { netPath } from '../../helpers/address.js'
import { named, onWindows, underWine } from '../../helpers/platform.js'
import { spawnFixture, tempDir, tempSocket } from '../../helpers/processes.js'
import { connectClient, type FixtureMessage, listenHere, nextMessage, startServer, within } from '../support.js'

/** Wine lets a second server create a pipe name that a live one holds; Windows refuses it (EADDRINUSE). */
const WINE_PIPE_IN_USE = 'Wine 8 lets a second server take a live pipe name (FILE_FLAG_FIRST_PIPE_INSTANCE)'
const NO_SOCKET_FILES = 'Windows has no socket files: the path names a pipe'

interface ListenFailed extends FixtureMessage {
  code: string
  message: string
}

describe('socket files', () => {
  test('a server listens over the stale socket file of a server killed with SIGKILL', async () => {
    const dead = await startServer()
    dead.fixture.child.kill('SIGKILL')
    expect(await dead.fixture.exited).toBe('SIGKILL')
    // SIGKILL gives the server no chance to clean up: its socket file stays behind. (A pipe goes with
    // its process.)
    if (!onWindows) expect(lstatSync(dead.path).isSocket()).toBe(true)
    const alive = await startServer({}, dead.path)
    const client = await connectClient(dead.path)
    expect(await client.rpc('pid')).toBe(alive.fixture.child.pid)
  })

  test('replacing a stale socket file is not reported as a server error', async () => {
    const dead = await startServer()
    dead.fixture.child.kill('SIGKILL')
    await dead.fixture.exited
    const alive = await startServer({}, dead.path)
    const client = await connectClient(dead.path)
    expect(await client.rpc('add', 1, 2)).toBe(3)
    alive.fixture.send({ cmd: 'errors' })
    // The first bind fails with EADDRINUSE before the stale file is replaced; that is recovered, not an error.
    expect((await nextMessage(alive.fixture, 'errors')).errors).toEqual([])
  })

  test('a server in the test process also replaces a stale socket file', async () => {
    const dead = await startServer()
    dead.fixture.child.kill('SIGKILL')
    await dead.fixture.exited
    const server = await listenHere(dead.path)
    server.expose('where', () => 'test process')
    const child = spawnFixture('client.mjs', [dead.path])
    await nextMessage(child, 'ready')
    child.send({ cmd: 'call', name: 'where', tag: 'w' })
    expect(await nextMessage(child, 'call-result')).toMatchObject({ value: 'test process' })
  })

  const inUse = "listening on a live server's path rejects with EADDRINUSE and leaves that server working"
  test.skipIf(underWine)(named(inUse, underWine, WINE_PIPE_IN_USE), async () => {
    expect.assertions(onWindows ? 4 : 5)
    const { fixture, path } = await startServer()
    try {
      await listen(path)
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('EADDRINUSE')
    }
    if (!onWindows) expect(lstatSync(path).isSocket()).toBe(true)
    const client = await connectClient(path)
    expect(await client.rpc('pid')).toBe(fixture.child.pid)
    expect(fixture.child.exitCode).toBeNull()
    // The losing listen() probed the live server: a connection that hung up, not an error there.
    fixture.send({ cmd: 'errors' })
    expect((await nextMessage(fixture, 'errors')).errors).toEqual([])
  })

  const secondProcess = 'a second server process on a live path fails to listen with EADDRINUSE'
  test.skipIf(underWine)(named(secondProcess, underWine, WINE_PIPE_IN_USE), async () => {
    const { fixture, path } = await startServer()
    const second = spawnFixture('server.mjs', [path])
    const failed = await nextMessage<ListenFailed>(second, 'listen-failed')
    expect(failed.code).toBe('EADDRINUSE')
    expect(await second.exited).toBe(1)
    const client = await connectClient(path)
    expect(await client.rpc('pid')).toBe(fixture.child.pid)
  })

  test.skipIf(onWindows)(named('server.close() removes the socket file', onWindows, NO_SOCKET_FILES), async () => {
    const { fixture, path } = await startServer()
    const client = await connectClient(path)
    expect(await client.rpc('add', 1, 1)).toBe(2)
    expect(existsSync(path)).toBe(true)
    fixture.send({ cmd: 'close' })
    await nextMessage(fixture, 'closed')
    expect(existsSync(path)).toBe(false)
    expect(await fixture.exited).toBe(0)
  })

  test.skipIf(onWindows)(named('a regular file at the path is not deleted and listen rejects', onWindows, NO_SOCKET_FILES), async () => {
    const path = tempSocket()
    writeFileSync(path, 'precious data')
    const fixture = spawnFixture('server.mjs', [path])
    const failed = await nextMessage<ListenFailed>(fixture, 'listen-failed')
    expect(failed.code).toBe('EADDRINUSE')
    expect(await fixture.exited).toBe(1)
    expect(lstatSync(path).isFile()).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe('precious data')
    // The same from this process.
    await expect(listen(path)).rejects.toMatchObject({ code: 'EADDRINUSE' })
    expect(readFileSync(path, 'utf8')).toBe('precious data')
  })
})

/** Collects a server's 'error' events and answers one call, to settle what the server has seen. */
function watchErrors(server: Server): { errors: Error[]; settle(path: string): Promise<void> } {
  const errors: Error[] = []
  server.on('error', (error) => errors.push(error))
  server.expose('roundTrip', () => 'ok')
  return {
    errors,
    // A later connection's full handshake and call: the server has handled everything before it.
    async settle(path) {
      const client = await connectClient(path)
      expect(await within(5000, client.rpc('roundTrip'), 'a call to the live server')).toBe('ok')
    },
  }
}

describe('probes of a live server', () => {
  const secondListen = "a second process's listen() on the path fails with EADDRINUSE and the live server reports no error"
  test.skipIf(underWine)(named(secondListen, underWine, WINE_PIPE_IN_USE), async () => {
    const path = tempSocket()
    const live = await listenHere(path)
    const watch = watchErrors(live)
    const second = spawnFixture('server.mjs', [path])
    const failed = await nextMessage<ListenFailed>(second, 'listen-failed')
    expect(failed.code).toBe('EADDRINUSE')
    expect(await second.exited).toBe(1)
    await watch.settle(path)
    expect(watch.errors).toEqual([])
  })

  test('connections that hang up before sending anything are not errors', async () => {
    const path = tempSocket()
    const live = await listenHere(path)
    const watch = watchErrors(live)
    for (let i = 0; i < 20; i++) {
      // What a liveness probe does: connect, then hang up at once.
      const probe = netConnect(netPath(path))
      await within(
        5000,
        new Promise<void>((resolve) => {
          probe.once('connect', () => probe.destroy())
          probe.once('close', () => resolve())
        }),
        'a probe connection',
      )
    }
    await watch.settle(path)
    expect(watch.errors).toEqual([])
  })
})

describe.skipIf(onWindows)(named('close() and a socket file that is no longer its own', onWindows, NO_SOCKET_FILES), () => {
  test('close() leaves alone the socket file of a server in another process that took over the path', async () => {
    const path = tempSocket()
    const first = await listenHere(path)
    // The first server's file is removed (a cleanup that took it for stale), and another server
    // listens on the path.
    unlinkSync(path)
    const second = await startServer({}, path)
    await first.close()
    expect(lstatSync(path).isSocket()).toBe(true)
    const client = await connectClient(path)
    expect(await client.rpc('pid')).toBe(second.fixture.child.pid)
  })

  test('close() leaves alone the socket file of a server in the same process that took over the path', async () => {
    const path = tempSocket()
    const first = await listenHere(path)
    unlinkSync(path)
    const second = await listenHere(path)
    second.expose('who', () => 'second')
    await first.close()
    expect(lstatSync(path).isSocket()).toBe(true)
    const client = await connectClient(path)
    expect(await client.rpc('who')).toBe('second')
    await second.close()
    expect(existsSync(path)).toBe(false)
  })

  test('close() leaves alone a file that replaced the socket', async () => {
    const path = tempSocket()
    const server = await listenHere(path)
    unlinkSync(path)
    writeFileSync(path, 'not a socket')
    await server.close()
    expect(readFileSync(path, 'utf8')).toBe('not a socket')
  })
})

describe.runIf(onWindows)('ipcPath() on Windows', () => {
  test('names a pipe of this user, and a server listens on it', async () => {
    const fixture = spawnFixture('server.mjs', ['ipc:pipe-test'])
    const listening = await nextMessage<FixtureMessage & { address: string }>(fixture, 'listening')
    expect(listening.address).toMatch(/^\\\\\.\\pipe\\ipc-channel-[\w.-]+-pipe-test$/)
    const client = await connectClient(listening.address)
    expect(await client.rpc('pid')).toBe(fixture.child.pid)
  })
})

describe.skipIf(onWindows)(named('ipcPath()', onWindows, 'Windows has no socket files or file modes'), () => {
  test('the directory is mode 0700 and the socket file 0600', async () => {
    const tmp = tempDir()
    const fixture = spawnFixture('server.mjs', ['ipc:perm-test'], { TMPDIR: tmp })
    const listening = await nextMessage<FixtureMessage & { address: string }>(fixture, 'listening')
    const path = listening.address
    expect(path.startsWith(tmp)).toBe(true)
    expect(path.endsWith('perm-test.sock')).toBe(true)
    expect(statSync(dirname(path)).isDirectory()).toBe(true)
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700)
    expect(lstatSync(path).isSocket()).toBe(true)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const client = await connectClient(path)
    expect(await client.rpc('pid')).toBe(fixture.child.pid)
  })

  test('an existing directory with loose permissions is made 0700', async () => {
    const tmp = tempDir()
    const uid = process.getuid?.() ?? 0
    const dir = join(tmp, `ipc-channel-${uid}`)
    mkdirSync(dir, { mode: 0o755 })
    expect(statSync(dir).mode & 0o777).not.toBe(0o700)
    const fixture = spawnFixture('server.mjs', ['ipc:loose'], { TMPDIR: tmp })
    const listening = await nextMessage<FixtureMessage & { address: string }>(fixture, 'listening')
    expect(dirname(listening.address)).toBe(dir)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(listening.address).mode & 0o777).toBe(0o600)
  })
})
