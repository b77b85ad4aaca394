/**
 * Type-checks examples/electron against Electron's own type definitions, when the electron package is
 * installed. It is not a dependency of ipc-channel: every Electron release from 42 on requires Node 22,
 * and the ones before download a binary from GitHub on install, so a fresh `npm install` on Node 20
 * would print engine warnings or fetch ~100 MB. CI installs it without the binary
 * (`ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm install --no-save electron@41`); elsewhere this says it skipped.
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
try {
  require.resolve('electron/electron.d.ts')
} catch {
  console.log('examples/electron: not type-checked, electron is not installed (ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm install --no-save electron@41)')
  process.exit(0)
}
for (const project of ['examples/electron/tsconfig.json', 'examples/electron/tsconfig.renderer.json']) {
  const result = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], { stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
