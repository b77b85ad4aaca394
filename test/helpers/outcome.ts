/**
 * What a promise came to, for tests that inspect a rejection without try/catch: outcome() settles it
 * into a tagged record; reasonOf() and rejection() hand back the reason, and fail the test when the
 * promise was fulfilled instead.
 */
import { expect } from 'vitest'

/** Shaped like Promise.allSettled's results. */
export type Outcome<T = unknown> = { status: 'fulfilled'; value: T } | { status: 'rejected'; reason: unknown }

/** Settles a promise-like into a tagged outcome, so that even a rejection with `undefined` can be told apart. */
export async function outcome<T>(value: PromiseLike<T>): Promise<Outcome<T>> {
  try {
    return { status: 'fulfilled', value: await value }
  } catch (reason) {
    return { status: 'rejected', reason }
  }
}

/**
 * The reason of a rejected outcome. Checked with `expect`, so that it counts toward
 * `expect.assertions()` in the tests that declare how many they make.
 */
export function reasonOf<E = unknown>(settled: Outcome): E {
  expect(settled.status, 'expected a rejection').toBe('rejected')
  return (settled as { reason: E }).reason
}

/** The reason `value` rejects with; see reasonOf. */
export async function rejection<E = unknown>(value: PromiseLike<unknown>): Promise<E> {
  return reasonOf<E>(await outcome(value))
}
