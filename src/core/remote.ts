/**
 * The proxy `channel.remote()` returns, which turns `api.add(1, 2)` into a call and
 * `api.auth.check(pw)` into a call of the namespaced name `auth.check` (its type, `Remote<T>`, is the
 * channel's).
 */
import type { InProgress } from './in-progress.js'

type Call = (name: string, args: unknown[]) => InProgress<unknown, unknown>

/**
 * A proxy whose every string key is a member that calls `call(key, args)` when called and is itself a
 * namespace of the same kind: `api.auth.check(pw)` calls `auth.check`. One member per name, made on
 * first use. `then` is undefined at every level, so the proxy and its namespaces can be returned from
 * an async function without being awaited as thenables.
 */
export function remoteProxy(call: Call): object {
  return namespace(call, '')
}

function namespace(call: Call, prefix: string): object {
  const members = new Map<string, object>()
  const get = (_target: unknown, key: string | symbol): unknown => {
    if (typeof key !== 'string' || key === 'then') return undefined
    let member = members.get(key)
    if (!member) {
      member = remoteMember(call, prefix + key)
      members.set(key, member)
    }
    return member
  }
  return new Proxy(Object.create(null) as object, { get })
}

/**
 * A function that calls `name`, wrapped so that its properties are the namespace `name.`. The
 * function is an arrow, whose own properties (`length`, `name`) are configurable, so the proxy may
 * answer anything for them; calling goes straight to the target (no `apply` trap).
 */
function remoteMember(call: Call, name: string): object {
  let inner: object | undefined
  const fn = (...args: unknown[]): InProgress<unknown, unknown> => call(name, args)
  return new Proxy(fn, {
    get: (_target, key) => {
      if (typeof key !== 'string' || key === 'then') return undefined
      inner ??= namespace(call, `${name}.`)
      return Reflect.get(inner, key)
    },
  })
}
