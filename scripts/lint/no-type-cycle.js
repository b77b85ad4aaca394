/**
 * An ESLint rule: no import cycle that goes through a type-only import. import-x/no-cycle skips
 * type-only imports, as the compiler erases them; a cycle through one still ties two modules
 * together, so the layering wants none. Cycles of value imports alone are left to import-x/no-cycle.
 *
 * Follows relative imports and re-exports (`./x.js` is read as `./x.ts` when that exists), parses
 * each module once per change of its mtime, and reports each import of the linted file from which
 * the file can be reached again only through at least one type-only import.
 */
import { readFileSync, statSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import tseslint from 'typescript-eslint'

/** @type {Map<string, { mtimeMs: number, edges: Edge[] }>} */
const modules = new Map()

/** @typedef {{ node: object, target: string, typeOnly: boolean }} Edge */

function isFile(path) {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

function resolveImport(from, specifier) {
  if (!specifier.startsWith('.')) return undefined
  const path = resolve(dirname(from), specifier)
  const candidates = [path.replace(/\.js$/, '.ts'), path.replace(/\.mjs$/, '.mts'), path]
  return candidates.find((candidate) => /\.[cm]?[jt]s$/.test(candidate) && isFile(candidate))
}

/** The imports and re-exports of a parsed module, each with whether it brings in types alone. */
function edgesOf(file, program) {
  const edges = []
  for (const node of program.body) {
    let specifier
    let typeOnly = false
    if (node.type === 'ImportDeclaration') {
      specifier = node.source.value
      typeOnly = node.importKind === 'type' || (node.specifiers.length > 0 && node.specifiers.every((s) => s.importKind === 'type'))
    } else if ((node.type === 'ExportNamedDeclaration' || node.type === 'ExportAllDeclaration') && node.source) {
      specifier = node.source.value
      typeOnly =
        node.exportKind === 'type' ||
        (node.type === 'ExportNamedDeclaration' && node.specifiers.length > 0 && node.specifiers.every((s) => s.exportKind === 'type'))
    } else if (node.type === 'TSImportEqualsDeclaration' && node.moduleReference.type === 'TSExternalModuleReference') {
      specifier = node.moduleReference.expression.value
      typeOnly = node.importKind === 'type'
    }
    const target = typeof specifier === 'string' ? resolveImport(file, specifier) : undefined
    if (target) edges.push({ node, target, typeOnly })
  }
  return edges
}

function moduleEdges(file) {
  const { mtimeMs } = statSync(file)
  const cached = modules.get(file)
  if (cached?.mtimeMs === mtimeMs) return cached.edges
  const { ast } = tseslint.parser.parseForESLint(readFileSync(file, 'utf8'), { sourceType: 'module', filePath: file, range: true, loc: true })
  const edges = edgesOf(file, ast)
  modules.set(file, { mtimeMs, edges })
  return edges
}

/** A route of modules from `start` back to `goal`, over value imports alone when `valuesOnly`. */
function route(start, goal, valuesOnly) {
  const previous = new Map([[start, undefined]])
  const queue = [start]
  while (queue.length > 0) {
    const file = queue.shift()
    for (const { target, typeOnly } of moduleEdges(file)) {
      if (valuesOnly && typeOnly) continue
      if (target === goal) {
        const path = [goal]
        for (let at = file; at !== undefined; at = previous.get(at)) path.unshift(at)
        return path
      }
      if (!previous.has(target)) {
        previous.set(target, file)
        queue.push(target)
      }
    }
  }
  return undefined
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'Forbid an import cycle that goes through a type-only import' },
    schema: [],
    messages: { cycle: 'Dependency cycle through a type-only import: {{route}}' },
  },
  create(context) {
    const file = context.physicalFilename
    if (!isFile(file)) return {}
    return {
      Program(program) {
        for (const { node, target, typeOnly } of edgesOf(file, program)) {
          const back = route(target, file, false)
          if (!back || (!typeOnly && route(target, file, true))) continue
          const names = [file, ...back].map((path) => relative(context.cwd, path))
          context.report({ node, messageId: 'cycle', data: { route: names.join(' -> ') } })
        }
      },
    }
  },
}
