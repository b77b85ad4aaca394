/**
 * Namespaces: `expose({ auth: { check } })` exposes `auth.check`; `remote<T>()` reaches it through
 * nested proxies; `unexpose('auth')` removes the namespace; cycles, depth and names exposed twice.
 */
import { describe, expect, test } from 'vitest'
import { MethodNotFoundError, expose } from '../../src/index.js'
import { MAX_NAMESPACE_DEPTH, Registry } from '../../src/core/registry.js'
import { rejection } from '../helpers/outcome.js'
import { connectedPair } from '../helpers/pairs.js'

/** What `expose(object)` throws, as text. */
function refusal(object: object): string {
  try {
    new Registry().add(object)
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`
  }
  return 'no error'
}

describe('expose(object) with nested objects', () => {
  test('nested plain objects are namespaces: dotted names, each called with its own object as this', async () => {
    const { server, client } = await connectedPair()
    const auth = {
      secret: 'pw',
      checkPassword(password: string) {
        return password === this.secret
      },
      admin: { list: () => ['alice'] },
    }
    server.expose({ auth, version: 1, tags: ['a'] })
    expect(await client.rpc('auth.checkPassword', 'pw')).toBe(true)
    expect(await client.rpc('auth.admin.list')).toEqual(['alice'])
    // Data (numbers, arrays, strings) is not callable.
    for (const name of ['auth', 'version', 'tags', 'auth.secret', 'auth.admin']) {
      expect(await rejection(client.rpc(name))).toBeInstanceOf(MethodNotFoundError)
    }
  })

  test('a nested instance with @expose() methods is a namespace of those methods', async () => {
    const { server, client } = await connectedPair()
    class Files {
      root = '/srv'
      @expose() read(path: string) {
        return `${this.root}/${path}`
      }
      helper() {}
    }
    server.expose({ files: new Files() })
    expect(await client.rpc('files.read', 'a.txt')).toBe('/srv/a.txt')
    expect(await rejection(client.rpc('files.helper'))).toBeInstanceOf(MethodNotFoundError)
  })

  test('the proxy: nested namespaces, then undefined at every level, and the same member each time', async () => {
    const { server, client } = await connectedPair()
    server.expose({ auth: { admin: { count: () => 2 } }, add: (a: number, b: number) => a + b })
    const api = client.remote<{ auth: { admin: { count(): number } }; add(a: number, b: number): number }>()
    expect(await api.auth.admin.count()).toBe(2)
    expect(await api.add(1, 2)).toBe(3)
    expect(api.auth.admin).toBe(api.auth.admin)
    expect(api.auth.admin.count).toBe(api.auth.admin.count)
    for (const level of [api, api.auth, api.auth.admin, api.add]) expect((level as { then?: unknown }).then).toBeUndefined()
    expect(typeof api.auth).toBe('function')
  })

  test("unexpose('auth') removes the namespace, and only it", async () => {
    const { server, client } = await connectedPair()
    server.expose({ auth: { check: () => true, deep: { list: () => [] } }, authorize: () => 'kept' })
    expect(server.unexpose('auth')).toBe(true)
    expect(await rejection(client.rpc('auth.check'))).toBeInstanceOf(MethodNotFoundError)
    expect(await rejection(client.rpc('auth.deep.list'))).toBeInstanceOf(MethodNotFoundError)
    expect(await client.rpc('authorize')).toBe('kept')
    expect(server.unexpose('auth')).toBe(false)
    // A name inside a namespace can go on its own.
    server.expose({ auth: { check: () => true, other: () => 1 } })
    expect(server.unexpose('auth.check')).toBe(true)
    expect(await client.rpc('auth.other')).toBe(1)
  })

  test('a cycle, a namespace deeper than the bound and a name given twice are refused, and expose nothing', () => {
    const loop: Record<string, unknown> = { ping: () => 'pong' }
    loop.self = { back: loop }
    expect(refusal(loop)).toMatchInlineSnapshot(
      `"TypeError: expose(object): "self.back" refers back to an object that contains it; namespaces cannot be cyclic"`,
    )
    let deep: Record<string, unknown> = { leaf: () => 1 }
    for (let i = 0; i <= MAX_NAMESPACE_DEPTH; i++) deep = { [`n${i}`]: deep }
    expect(refusal(deep)).toMatch(/^TypeError: expose\(object\): "n8(\.n\d)+" nests namespaces deeper than 8 levels$/)
    expect(refusal({ 'auth.check': () => 1, auth: { check: () => 2 } })).toMatchInlineSnapshot(
      `"TypeError: expose(object): "auth.check" is exposed twice by this object"`,
    )
    expect(refusal({ '': () => 1 })).toMatchInlineSnapshot(`"TypeError: expose(object): the object has a property with an empty name"`)
    // The same object in two places is no cycle.
    const shared = { run: () => 1 }
    const registry = new Registry()
    registry.add({ a: shared, b: shared, ok: () => 0 })
    expect([...registry.names()].sort()).toEqual(['a.run', 'b.run', 'ok'])
    // A refused object leaves what was exposed before untouched.
    expect(() => registry.add({ fresh: () => 1, loop })).toThrow(TypeError)
    expect(registry.get('fresh')).toBeUndefined()
  })

  test('at the bound, namespaces are still taken', () => {
    let deep: Record<string, unknown> = { leaf: () => 1 }
    const path: string[] = []
    for (let i = 0; i < MAX_NAMESPACE_DEPTH; i++) {
      deep = { [`n${i}`]: deep }
      path.unshift(`n${i}`)
    }
    const registry = new Registry()
    registry.add(deep)
    expect([...registry.names()]).toEqual([[...path, 'leaf'].join('.')])
  })

  test('exposing a name again replaces it, across calls', async () => {
    const { server, client } = await connectedPair()
    server.expose({ auth: { check: () => 'first' } })
    server.expose('auth.check', () => 'second')
    expect(await client.rpc('auth.check')).toBe('second')
  })
})
