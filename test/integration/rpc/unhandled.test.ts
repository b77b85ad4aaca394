/**
 * A call nobody awaits that fails surfaces as an unhandled rejection, as a rejected Promise would:
 * the client runs in a process of its own (test/fixtures/unhandled.mjs), the server here.
 */
import { expect, test } from 'vitest'
import { spawnFixture, tempSocket, within } from '../../helpers/processes.js'
import { listenHere } from '../support.js'

async function server(): Promise<string> {
  const path = tempSocket()
  const server = await listenHere(path)
  server.expose({
    ok: (text: string) => text,
    fail: (text: string) => {
      throw new TypeError(`failed: ${text}`)
    },
    slow: () => new Promise(() => {}),
  })
  return path
}

test("an un-awaited call that fails ends the process as an unhandled rejection does, with the remote error and the call's name", async () => {
  const path = await server()
  const fixture = spawnFixture('unhandled.mjs', [path, 'crash'])
  const exit = await within(10_000, fixture.exited, 'the client process to exit')
  expect(exit).toBe(1)
  const output = fixture.output()
  expect(output).toContain('TypeError: failed: nobody awaits this')
  expect(output).toContain('at remote call "fail" (ipc-channel)')
})

test('only failures nobody observed are reported: not successes, awaited or inspected failures, aborts or loops', async () => {
  const path = await server()
  const fixture = spawnFixture('unhandled.mjs', [path, 'record'])
  expect(await within(10_000, fixture.exited, 'the client process to exit')).toBe(0)
  const seen = JSON.parse(fixture.output().trim().split('\n').at(-1)!)
  expect(seen).toEqual({
    success: 0,
    failure: 1,
    handled: 1,
    errorRead: true,
    afterErrorRead: 1,
    aborted: 1,
    timedOut: 2,
    iterated: 2,
    reported: ['TypeError: failed: failed, not awaited', 'TimeoutError: call "slow" timed out after 10 ms'],
  })
})
