/**
 * Bundles src/browser.ts for the browser platform with esbuild, as a web app would: the browser
 * export condition, no Node built-ins, no polyfills.
 */
import { build, type Metafile } from 'esbuild'
import { fileURLToPath } from 'node:url'

export interface BrowserBundle {
  code: string
  metafile: Metafile
}

let bundle: Promise<BrowserBundle> | undefined

/** The ESM bundle of the browser entry point (built once per test file). */
export function browserBundle(): Promise<BrowserBundle> {
  bundle ??= build({
    entryPoints: [fileURLToPath(new URL('../../src/browser.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  }).then((result) => ({ code: result.outputFiles[0].text, metafile: result.metafile }))
  return bundle
}
