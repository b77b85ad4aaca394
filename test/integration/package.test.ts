/**
 * The package as npm would publish it: what `npm pack` puts in the tarball is enough for its own
 * documents (a link in the README of an installed package does not point at a missing file), and the
 * tarball installed into a fresh project gives it the command, the module and its types.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, onTestFinished, test } from 'vitest'
import { named, onWindows } from '../helpers/platform.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The paths `npm pack` would put in the tarball (dist/ as built: the suite builds first). */
async function packedFiles(): Promise<Set<string>> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 16 << 20 })
  const [pack] = JSON.parse(stdout) as [{ files: { path: string }[] }]
  return new Set(pack.files.map((file) => file.path))
}

/** The relative links of a markdown file, resolved against the package root, without their anchors. */
function relativeLinks(document: string): string[] {
  const text = readFileSync(join(root, document), 'utf8').replace(/```[\s\S]*?```/g, '')
  const links: string[] = []
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:|^#/.test(target!)) continue
    links.push(normalize(join(dirname(document), target!.split('#')[0]!)).replace(/\/$/, ''))
  }
  return links
}

const noNpm = 'the Windows suite runs node.exe without npm'

test.skipIf(onWindows)(
  named('every relative link in the shipped documents resolves to a shipped file or folder', onWindows, noNpm),
  { timeout: 60_000 },
  async () => {
    const files = await packedFiles()
    const documents = [...files].filter((path) => path.endsWith('.md'))
    expect(documents).toEqual(expect.arrayContaining(['README.md', 'SECURITY.md', 'CHANGELOG.md', 'docs/PROTOCOL.md', 'bench/README.md']))
    const missing: string[] = []
    for (const document of documents.filter((path) => !path.startsWith('dist/'))) {
      for (const link of relativeLinks(document)) {
        const shipped = files.has(link) || [...files].some((path) => path.startsWith(`${link}/`))
        if (!shipped) missing.push(`${document} -> ${link}`)
      }
    }
    expect(missing).toEqual([])
    expect(files.has('LICENSE')).toBe(true)
  },
)

test.skipIf(onWindows)(named('every source map ships with the source it maps', onWindows, noNpm), { timeout: 60_000 }, async () => {
  const files = await packedFiles()
  const maps = [...files].filter((path) => path.endsWith('.map'))
  expect(maps.length).toBeGreaterThan(0)
  const unshipped = new Set<string>()
  for (const map of maps) {
    const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] }
    for (const source of sources) {
      const path = normalize(join(dirname(map), source))
      if (!files.has(path)) unshipped.add(`${map} -> ${path}`)
    }
  }
  expect([...unshipped]).toEqual([])
})

const installs = 'the packed package installs into a fresh project: its command runs, it imports, its types check'
test.skipIf(onWindows)(named(installs, onWindows, noNpm), { timeout: 180_000 }, async () => {
  const run = promisify(execFile)
  const project = mkdtempSync(join(tmpdir(), 'ipc-package-'))
  onTestFinished(() => rmSync(project, { recursive: true, force: true }))
  const { stdout: packed } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', project], {
    cwd: root,
    maxBuffer: 16 << 20,
  })
  const [{ filename }] = JSON.parse(packed) as [{ filename: string }]
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(project, filename)], { cwd: project, maxBuffer: 16 << 20 })

  const help = await run('npx', ['--no-install', 'ipc-channel', '--help'], { cwd: project })
  expect(help.stdout).toContain('Usage: ipc-channel <command>')

  writeFileSync(
    join(project, 'app.ts'),
    [
      "import { connect, listen, type Remote } from 'ipc-channel'",
      "const server = await listen('app.sock')",
      "server.expose('add', (a: number, b: number) => a + b)",
      "const client = await connect('app.sock')",
      'const api: Remote<{ add(a: number, b: number): number }> = client.remote()',
      'const sum: number = await api.add(2, 3)',
      'console.log(sum)',
      'await client.close()',
      'await server.close()',
      // The NATS client is an optional peer dependency: without it, a nats:// address says what to install.
      "await connect('nats://127.0.0.1:9/svc').catch((error: Error) => console.log(error.message))",
      '',
    ].join('\n'),
  )
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        outDir: 'out',
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
      },
      files: ['app.ts'],
    }),
  )
  await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project })
  const app = await run(process.execPath, ['out/app.js'], { cwd: project })
  expect(app.stdout).toBe('5\nnats:// addresses need the NATS client, an optional peer dependency of ipc-channel: npm install nats\n')
})
