/**
 * The examples of the other links run end to end against dist/ and exit 0: a parent and its child
 * process, a worker thread, a desktop tool with helper processes. The Electron example cannot run
 * here (no Electron); its files are checked to parse and its renderer to bundle for the browser.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { build } from 'esbuild'
import { describe, expect, onTestFinished, test } from 'vitest'
import { ipcPath } from '../../../dist/index.js'
import { onWindows } from '../../helpers/platform.js'
import { repositoryRoot, runScript, within } from '../../helpers/processes.js'

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

  test('worker-pool: jobs spread over the workers by pending calls; close() ends every worker', async () => {
    const { exit, output, lines } = await runScript('examples/worker-pool/pool.js')
    expect(exit, output).toBe(0)
    expectLines(lines, output, [/^\[pool\] 12 jobs done by [2-4] workers; first digest [0-9a-f]{16}$/, /^\[pool\] every worker exited$/])
  })

  test('single-instance: six tools started at once share one helper, which exits when idle', async () => {
    const name = `si-test-${process.pid}-${Date.now()}`
    const env = { ...process.env, SINGLE_INSTANCE_NAME: name, SINGLE_INSTANCE_IDLE_MS: '1000' }
    const secretFile = join(onWindows ? tmpdir() : dirname(ipcPath(name)), `${name}.secret`)
    // Read while the helper serves (a tool has its answer): the file is gone once it is idle.
    let secretMode: number | undefined
    const tools = Array.from({ length: 6 }, (_, index) => {
      const tool = spawn(process.execPath, ['examples/single-instance/tool.js', `tool${index}`], {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      onTestFinished(() => {
        if (tool.exitCode === null) tool.kill('SIGKILL')
      })
      let output = ''
      tool.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (secretMode === undefined && output.includes(' answered ')) secretMode = statSync(secretFile).mode & 0o777
      })
      tool.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
      return new Promise<{ code: number | null; output: string }>((resolve) => tool.once('close', (code) => resolve({ code, output })))
    })
    const results = await within(20_000, Promise.all(tools), 'six tools')
    const output = results.map((result) => result.output).join('')
    for (const { code } of results) expect(code, output).toBe(0)
    const answers = [...output.matchAll(/^\[tool\d\] helper (\d+) answered 49$/gm)].map((match) => Number(match[1]))
    expect(answers, output).toHaveLength(6)
    // One helper served them all; any other that was started gave way without writing a secret.
    expect(new Set(answers).size, output).toBe(1)
    expect(output.match(/\] serving$/gm), output).toHaveLength(1)
    if (!onWindows) expect(secretMode).toBe(0o600)
    // Idle, the helper closes and removes its secret file; it runs detached, so wait for that.
    const helper = answers[0]!
    onTestFinished(() => {
      try {
        process.kill(helper, 'SIGKILL')
      } catch {
        // Already gone, as it should be.
      }
    })
    await within(
      10_000,
      (async () => {
        while (existsSync(secretFile)) await new Promise((resolve) => setTimeout(resolve, 50))
      })(),
      'the helper closing when idle',
    )
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
