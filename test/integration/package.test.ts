/**
 * The package as npm would publish it: what `npm pack` puts in the tarball is enough for its own
 * documents, so that a link in the README of an installed package does not point at a missing file.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, test } from 'vitest'

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

test('every relative link in the shipped documents resolves to a shipped file or folder', { timeout: 60_000 }, async () => {
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
})

test('every source map ships with the source it maps', { timeout: 60_000 }, async () => {
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
