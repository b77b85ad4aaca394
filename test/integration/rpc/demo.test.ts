/**
 * `npm run demo` end to end: examples/demo/server.js starts the client as a separate process, they talk
 * over ipcPath('demo'), and both exit 0 with the socket file removed. Runs against dist/ (built first).
 */
import { existsSync } from 'node:fs'
import { expect, test } from 'vitest'
import { repositoryRoot, runScript } from '../../helpers/processes.js'

const root = repositoryRoot

test('the demo runs a server and a client process that both exit 0', async () => {
  expect(existsSync(`${root}dist/index.js`), 'dist/ is missing: run npm run build first').toBe(true)
  const { exit, output, lines } = await runScript('examples/demo/server.js')

  expect(exit, output).toBe(0)
  expect(
    lines.every((line) => /^\[(server|client)\] /.test(line)),
    output,
  ).toBe(true)
  for (const expected of [
    /^\[server\] listening on .*demo/,
    /^\[server\] client\.whoAreYou\(\) returned \{"name":"demo-client","pid":\d+\}$/,
    /^\[client\] the server says "welcome, demo-client"$/,
    /^\[client\] rpc\('add', 1, 2\) -> 3$/,
    /^\[client\] api\.stats\(\[3, 1, 4, 1, 5\]\) -> \{"min":1,"max":5,"mean":2\.8\}$/,
    /^\[client\] api\.parsePort\('eighty'\) threw TypeError: not a port number: "eighty"$/,
    /^\[client\] +instanceof TypeError: true, instanceof RemoteError: true$/,
    /^\[client\] +code: E_BAD_PORT$/,
    /^\[client\] +cause: RangeError: /,
    /^\[server\] notify log\("about to stream"\) received$/,
    /^\[client\] countdown: 3$/,
    /^\[client\] countdown: 2$/,
    /^\[client\] countdown: 1$/,
    /^\[server\] the client exited with code 0; closing$/,
    /^\[server\] closed; socket file removed: true$/,
  ]) {
    expect(
      lines.some((line) => expected.test(line)),
      `${expected} in:\n${output}`,
    ).toBe(true)
  }
  // The stream's items arrive in order.
  const countdown = lines.filter((line) => line.startsWith('[client] countdown: ')).map((line) => line.slice(-1))
  expect(countdown).toEqual(['3', '2', '1'])
})
