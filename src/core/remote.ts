/**
 * The proxy `channel.remote()` returns, which turns `api.add(1, 2)` into a call (its type, `Remote<T>`,
 * is the channel's).
 */
import type { InProgress } from './in-progress.js'

/**
 * A proxy whose every string key is a function that calls `call(key, args)`; one function per key,
 * made on first use. Its `then` is undefined, so it can be returned from an async function without
 * being awaited as a thenable.
 */
export function remoteProxy(call: (name: string, args: unknown[]) => InProgress<unknown, unknown>): object {
  const methods = new Map<string, (...args: unknown[]) => InProgress<unknown, unknown>>()
  return new Proxy(Object.create(null) as object, {
    get: (_target, key) => {
      if (typeof key !== 'string' || key === 'then') return undefined
      let method = methods.get(key)
      if (!method) {
        method = (...args: unknown[]) => call(key, args)
        methods.set(key, method)
      }
      return method
    },
  })
}
