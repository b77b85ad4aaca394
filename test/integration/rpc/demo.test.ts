/**
 * `npm run demo` end to end: examples/demo/server.js starts the client as a separate process, they talk
 * over ipcPath('demo'), and both exit 0 with the socket file removed; with --serve, the ipc-channel
 * command lists and calls it as the README shows. Runs against dist/ (built first). One file, so that
 * the two demos, on the same ipcPath name, never run at once.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { promisify } from 'node:util'
import { expect, onTestFinished, test } from 'vitest'
import { onWindows } from '../../helpers/platform.js'
import { repositoryRoot, runScript, within } from '../../helpers/processes.js'

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

test('demo --serve stays up for the ipc-channel command, with the secret in a private file', async () => {
  const demo = spawn(process.execPath, ['examples/demo/server.js', '--serve'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  onTestFinished(() => {
    if (demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL')
  })
  let output = ''
  const serving = new Promise<void>((resolve) =>
    demo.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Ctrl-C to stop.')) resolve()
    }),
  )
  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)))
  await within(15_000, serving, 'the demo serving')
  const secretFile = /--secret-file (\S+)/.exec(output)![1]!
  if (!onWindows) expect(statSync(secretFile).mode & 0o777).toBe(0o600)

  const cli = (...args: string[]) => promisify(execFile)(process.execPath, ['dist/node/cli.js', ...args, '--secret-file', secretFile], { cwd: root })
  const listed = await within(15_000, cli('list', 'demo'), 'ipc-channel list demo')
  expect(listed.stdout.split('\n')).toEqual(['add  adds two numbers', 'stats', 'parsePort', 'log', 'countdown (stream)', ''])
  expect((await within(15_000, cli('call', 'demo', 'add', '1', '2'), 'ipc-channel call demo add')).stdout).toBe('3\n')

  demo.kill('SIGINT')
  expect(await within(10_000, exited, 'the demo exiting')).toBe(0)
  expect(existsSync(secretFile)).toBe(false)
})
