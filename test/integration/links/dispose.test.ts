/**
 * `await using` for Server and the link spawnChild returns, and the handshake timeout of a child that
 * never connects.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import { TimeoutError, listen, spawnChild, type ChildLink } from '../../../dist/index.js'
import { fixturesDir, tempSocket, within } from '../../helpers/processes.js'
import { rejection } from '../../helpers/outcome.js'
import { named, onWindows } from '../../helpers/platform.js'

/** Kills the child after the test if the test left it running. */
function killLater(link: ChildLink): ChildLink {
  onTestFinished(() => {
    if (link.child.exitCode === null && link.child.signalCode === null) link.child.kill('SIGKILL')
  })
  return link
}

test('await using closes a Server at the end of the block', async () => {
  const path = tempSocket()
  let outside: { listening: boolean } | undefined
  {
    await using server = await listen(path)
    outside = server
    expect(server.listening).toBe(true)
  }
  expect(outside.listening).toBe(false)
  if (!onWindows) expect(existsSync(path)).toBe(false)
})

test('await using a child link closes the channel and waits for the child to exit', async () => {
  let link: ChildLink | undefined
  {
    await using child = killLater(await spawnChild(join(fixturesDir, 'child-api.mjs'), [], { stdio: 'ignore' }))
    link = child
    expect(await child.channel.rpc('add', 1, 2)).toBe(3)
  }
  expect(link.channel.connected).toBe(false)
  expect(link.child.exitCode).toBe(0)
})

test.skipIf(onWindows)(named('a child that stays up after its channel closed is sent SIGTERM', onWindows, 'no signals on Windows'), async () => {
  const link = killLater(await spawnChild(join(fixturesDir, 'child-stubborn.mjs'), [], { stdio: 'ignore' }))
  await within(10_000, link[Symbol.asyncDispose](), 'disposing of the link')
  expect(link.child.signalCode).toBe('SIGTERM')
})

test('a child that never calls connectParent(): the handshake timeout says that is the likely cause', async () => {
  const error = await rejection<TimeoutError>(spawnChild(join(fixturesDir, 'child-silent.mjs'), [], { stdio: 'ignore', handshakeTimeout: 300 }))
  expect(error).toBeInstanceOf(TimeoutError)
  expect(error.message).toMatch(
    /^handshake not completed within 300 ms: the child process \d+ \(.*child-silent\.mjs\) is running but did not connect; it most likely never called connectParent\(\)$/,
  )
  expect(error.cause).toBeInstanceOf(TimeoutError)
})
