/**
 * What platform the tests run on, for the few tests that check something Windows does not have (Unix
 * socket files and their modes, SIGSTOP) or that Wine does differently from Windows. Such a test is
 * skipped there, and its name says why.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const onWindows = process.platform === 'win32'

/**
 * Windows emulated by Wine (scripts/test-windows.sh): a Wine prefix has winecfg.exe in system32, which
 * Windows never has.
 */
export const underWine = onWindows && existsSync(join(process.env.SystemRoot ?? 'C:\\windows', 'system32', 'winecfg.exe'))

/** A test's name, followed where it is `skipped` by the reason. */
export function named(name: string, skipped: boolean, reason: string): string {
  return skipped ? `${name} [skipped: ${reason}]` : name
}
