/**
 * How much longer than on Linux the tests' waits may take here: `IPC_TEST_TIME_FACTOR`, 1 when unset.
 * The Windows suite under Wine sets it (a Wine node.exe takes about a second to start). Only deadlines
 * that bound a wait for something that should happen are multiplied (within(), a fixture's message,
 * vitest's test timeout), never a duration that a test asserts as behaviour.
 */
export const timeFactor: number = (() => {
  const factor = Number(process.env.IPC_TEST_TIME_FACTOR ?? 1)
  return Number.isFinite(factor) && factor >= 1 ? factor : 1
})()

/** `ms` multiplied by {@link timeFactor}. */
export function patience(ms: number): number {
  return ms * timeFactor
}
