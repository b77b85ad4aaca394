import { existsSync } from 'node:fs'
import js from '@eslint/js'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import { importX } from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'
import noTypeCycle from './scripts/lint/no-type-cycle.js'

// test/integration/ imports the built package from dist/. Unbuilt, those imports do not resolve, the
// type-aware rules see `any` there and report nothing: lint after `npm run build`.
if (!existsSync(new URL('dist/index.d.ts', import.meta.url))) {
  console.warn('eslint.config.js: dist/ is not built (npm run build), so the type-aware rules cannot check the tests that import it')
}

const NODE_BUILTINS = {
  group: ['node:*'],
  message: 'protocol/, core/, transports/message-port.ts and browser.ts also run in browsers: nothing from node: here',
}

/** A no-restricted-imports pattern for imports of the layers above `layer` (a folder of src/). */
function above(layer, folders) {
  return {
    regex: `^(\\.\\./)+(${folders.join('|')})/`,
    message: `${layer} must not import from ${folders.map((folder) => `${folder}/`).join(', ')}: those layers sit above it`,
  }
}

function layer(files, patterns) {
  return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } }
}

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        crypto: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The layering, bottom to top: protocol/ (wire format), core/ (the channel), transports/, node/
  // (and the entry points). A layer imports only from the layers below it. protocol/, core/, the
  // MessagePort transport and the browser entry also run in browsers and renderers: nothing from
  // node: there. Each block lists every restriction of its files, as a later block's options for
  // the same rule replace an earlier one's.
  layer(['src/protocol/**'], [NODE_BUILTINS, above('protocol/', ['core', 'transports', 'node'])]),
  layer(['src/core/**'], [NODE_BUILTINS, above('core/', ['transports', 'node'])]),
  layer(['src/transports/**'], [above('transports/', ['node'])]),
  layer(['src/transports/message-port.ts'], [NODE_BUILTINS, above('transports/', ['node'])]),
  layer(['src/browser.ts'], [NODE_BUILTINS, { regex: '^\\./node/', message: 'browser.ts must not import from node/' }]),
  {
    // No import cycles in src/: import-x/no-cycle for cycles of value imports (the resolver maps the
    // `.js` of our ESM imports to the `.ts` source), local/no-type-cycle for those through a type-only
    // import, which the compiler erases but which tie the modules together all the same.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX, local: { rules: { 'no-type-cycle': noTypeCycle } } },
    settings: {
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': 'error', 'local/no-type-cycle': 'error' },
  },
  {
    files: ['src/protocol/**', 'src/core/**', 'src/transports/message-port.ts', 'src/browser.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: 'use Uint8Array in protocol/ and core/' },
        { name: 'process', message: 'no process in protocol/ and core/' },
      ],
    },
  },
  {
    // Type-aware rules, on the TypeScript of src/ and test/ only (the program costs most of the lint
    // time). test/consumer*/ are left out: each compiles against the built dist/ as a user's project,
    // and has its own tsconfig.json.
    files: ['src/**/*.ts', 'test/**/*.ts'],
    ignores: ['test/consumer/**', 'test/consumer-browser/**', 'test/consumer-decorators/**'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // checkThenables: an InProgress is a thenable, not a Promise, and a call left unawaited is
      // the mistake this rule is for. Its chaining methods (timeout(), onProgress()) return the call
      // too: used as a statement on a call awaited elsewhere, they take a `void`.
      '@typescript-eslint/no-floating-promises': ['error', { checkThenables: true }],
      // A switch over a union names every member, default or not: a MessageType added later is
      // then handled, or refused on purpose, everywhere.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: false }],
    },
  },
)
