/**
 * The examples of the other links run end to end against dist/ and exit 0: a parent and its child
 * process, a worker thread, a desktop tool with helper processes. The Electron example cannot run
 * here (no Electron); its files are checked to parse and its renderer to bundle for the browser.
 */
import { spawnSync } from 'node:child_process'
import { build } from 'esbuild'
import { describe, expect, test } from 'vitest'
import { repositoryRoot, runScript } from '../../helpers/processes.js'

const root = repositoryRoot

function expectLines(lines: string[], output: string, patterns: RegExp[]): void {
  for (const pattern of patterns)
    expect(
      lines.some((line) => pattern.test(line)),
      `${pattern} in:\n${output}`,
    ).toBe(true)
}

describe('examples', () => {
  test('child-process: parent and child call each other; the crash rejects with the exit code', async () => {
    const { exit, output, lines } = await runScript('examples/child-process/parent.js')
    expect(exit, output).toBe(0)
    expectLines(lines, output, [
      /^\[child\] started with quality 80; console output is free/,
      /^\[child\] connected to the parent$/,
      /^\[parent\] holiday\.jpg: 50%$/,
      /^\[parent\] holiday\.jpg: 100%$/,
      /^\[parent\] thumbnail\(holiday\.jpg, 64\) -> holiday\.thumb\.jpg, 64 px, 3276 bytes$/,
      /^\[parent\] thumbnail\(broken\.jpg, -1\) threw RangeError: width must be positive, got -1$/,
      /^\[parent\] crash\(3\) rejected with ChannelClosedError: .*exited with code 3$/,
      /^\[parent\] the child exited with code 3$/,
    ])
  })

  test('worker: calls, a streamed result and a transferred megabyte; the worker ends after close', async () => {
    const { exit, output, lines } = await runScript('examples/worker/main.js')
    expect(exit, output).toBe(0)
    expectLines(lines, output, [
      /^\[main\] the worker says: ready$/,
      /^\[main\] fib\(30\) = 832040$/,
      /^\[main\] primes, streamed: 2 3 5 7 11 13 17 19$/,
      /^\[main\] checksum of 1 MiB = 1680$/,
      /^\[main\] the worker exited with code 0$/,
    ])
  })

  test('desktop-tool: helpers connect with the secret, serve the app, and exit when it closes', async () => {
    const { exit, output, lines } = await runScript('examples/desktop-tool/app.js')
    expect(exit, output).toBe(0)
    expectLines(lines, output, [
      /^\[app\] listening on .*desktop-tool-\d+/,
      /^\[app\] helper "spelling" registered: check$/,
      /^\[app\] helper "statistics" registered: count$/,
      /^\[spelling\] the app says "hello spelling"$/,
      /^\[app\] status bar: statistics ready$/,
      /^\[app\] spelling\.check -> teh => the, brwn => brown$/,
      /^\[app\] statistics\.count -> 9 words, 34 letters$/,
      /^\[app\] a process without the secret was refused: AuthenticationError$/,
      /^\[spelling\] the app closed; exiting$/,
      /^\[app\] helpers exited with 0 and 0; closed$/,
    ])
  })

  test('electron: main and preload parse; the renderer bundles for the browser without node: imports', async () => {
    for (const file of ['examples/electron/main.js', 'examples/electron/preload.js', 'examples/electron/renderer.js']) {
      const check = spawnSync(process.execPath, ['--check', file], { cwd: root, encoding: 'utf8' })
      expect(check.status, `${file}: ${check.stderr}`).toBe(0)
    }
    const result = await build({
      entryPoints: [`${root}examples/electron/renderer.js`],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    })
    const code = result.outputFiles[0].text
    expect(code).toMatch(/fromMessagePort|documentTitle/)
    expect(code).not.toMatch(/\bfrom\s*["']node:|\brequire\s*\(\s*["']node:/)
  })
})
