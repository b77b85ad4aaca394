import ts from 'typescript'
import { defineConfig, type Plugin } from 'vitest/config'
import { patience } from './test/helpers/time.js'

/**
 * Node 20 cannot parse TC39 decorators and Vite's own transform leaves them in place, so test files
 * that use `@expose()` are lowered by TypeScript itself, as `tsc` does for the library.
 */
function lowerDecorators(): Plugin {
  return {
    name: 'lower-standard-decorators',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('.ts') || id.includes('node_modules') || !/@[A-Za-z_$][\w$]*\(/.test(code)) return null
      const output = ts.transpileModule(code, {
        fileName: id,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          sourceMap: true,
          inlineSources: true,
          verbatimModuleSyntax: false,
        },
      })
      return { code: output.outputText, map: output.sourceMapText ? JSON.parse(output.sourceMapText) : null }
    },
  }
}

export default defineConfig({
  plugins: [lowerDecorators()],
  test: {
    include: ['test/**/*.test.ts'],
    // Longer where processes start slowly (the Windows suite under Wine sets IPC_TEST_TIME_FACTOR).
    testTimeout: patience(20_000),
    hookTimeout: patience(20_000),
    // Integration tests spawn processes; two cores run two files at a time comfortably.
    maxWorkers: 2,
    typecheck: {
      enabled: true,
      include: ['test/types/**/*.test-d.ts'],
      tsconfig: './tsconfig.json',
    },
  },
})
