/**
 * The built declarations as projects of other kinds see them: a browser project (the `browser`
 * condition, no Node types, the libs the README names) and one with `experimentalDecorators`, which
 * also runs. Needs `npm run build` first, as the integration tests do.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import { expect, onTestFinished, test } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The diagnostics of compiling the project `tsconfig`, as text. */
function compile(tsconfig: string): string[] {
  const path = join(root, tsconfig)
  const config = ts.getParsedCommandLineOfConfigFile(path, undefined, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!
  const program = ts.createProgram(config.fileNames, config.options)
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
}

/** A whole program with library checking takes seconds, more on a loaded machine. */
const COMPILE_MS = 60_000

test('a browser project gets the browser declarations from `ipc-channel` and `ipc-channel/browser`', { timeout: COMPILE_MS }, () => {
  expect(compile('test/consumer-browser/tsconfig.json')).toEqual([])
})

test('a project with experimentalDecorators compiles @expose(), and the context check holds there too', { timeout: COMPILE_MS }, () => {
  expect(compile('test/consumer-decorators/tsconfig.json')).toEqual([])
})

test('@expose() compiled as experimentalDecorators registers the methods, a base class’s included', async () => {
  const source = readFileSync(join(root, 'test/consumer-decorators/consumer.ts'), 'utf8')
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, experimentalDecorators: true },
  })
  expect(outputText).toContain('__decorate(')
  const dir = mkdtempSync(join(tmpdir(), 'ipc-decorators-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'consumer.mjs')
  writeFileSync(file, outputText.replace(`from 'ipc-channel'`, `from ${JSON.stringify(pathToFileURL(join(root, 'dist/index.js')).href)}`))
  const { run } = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as { run: () => Promise<unknown[]> }
  expect(await run()).toEqual(['pong', '/srv/a.txt', { path: 'b.txt', size: 3 }, 'c.txt running', 'MethodNotFoundError', 'MethodNotFoundError'])
})
