/**
 * The built declarations as projects of other kinds see them: a browser project (the `browser`
 * condition, no Node types, the libs the README names). Needs `npm run build` first, as the
 * integration tests do.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { expect, test } from 'vitest'

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
