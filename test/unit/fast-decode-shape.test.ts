/**
 * The shape of what the fast decoder builds: a map decodes to an object of fast properties, not a
 * V8 dictionary, up to FAST_OBJECT_KEYS keys, whatever objects the process built before. Checked with
 * V8's own `%HasFastProperties` in a child process started with `--allow-natives-syntax`, on the
 * built decoder in dist/, as the integration tests use it.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'

const dist = fileURLToPath(new URL('../../dist/protocol/', import.meta.url))

/** Runs `body` as a module in a child with natives syntax and the decoder in scope; returns its JSON. */
function inV8(body: string): unknown {
  const script = `
    import { fastDecode } from ${JSON.stringify(dist + 'fast-decode.js')}
    import { fastEncode } from ${JSON.stringify(dist + 'fast-encode.js')}
    const hasFast = (o) => %HasFastProperties(o)
    const decode = (value) => { const p = fastEncode(value); return fastDecode(p instanceof Uint8Array ? p.slice() : p) }
    const out = (() => { ${body} })()
    process.stdout.write(JSON.stringify(out))`
  const stdout = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  })
  return JSON.parse(stdout)
}

test('maps of up to 64 keys decode to objects of fast properties, nested too', () => {
  const result = inV8(`
    // Values of every kind a record holds: V8 decides the shape by their representations too.
    const kinds = [(i) => i, (i) => i + 0.5, (i) => 'text' + i, (i) => new Date(i), (i) => ({ i }), () => null, (i) => [i]]
    const record = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => ['field' + i, kinds[i % kinds.length](i)]))
    // Small objects first: V8's slack tracking then gives plain objects fewer in-object fields.
    for (let i = 0; i < 1000; i++) decode({ x: i, y: 'y' })
    const sizes = [1, 16, 17, 19, 20, 21, 32, 64]
    // Each decoded often enough for the decoder to be optimized: V8 chooses a shape differently then.
    const often = (value) => { let last; for (let i = 0; i < 20000; i++) last = decode(value); return last }
    // An application's record of 20 fields (the bench's): with the decoder as it was, a dictionary.
    const user = {
      id: 48213, uuid: '7d9f2c1e-4b8a-4f3e-9c21-5a6b7c8d9e0f', name: 'Ada Lovelace', email: 'ada@example.org',
      active: true, verified: false, age: 36, score: 98.75, balance: -1234.5, rank: 3, createdAt: new Date(0),
      role: 'admin', locale: 'en-GB', timezone: 'Europe/London', loginCount: 1729, ratio: 0.3125,
      tags: ['alpha', 'beta', 'gamma'], address: { street: '12 St James Square', city: 'London', postcode: 'SW1Y 4JH', country: 'GB' },
      preferences: { theme: 'dark', notifications: true, fontSize: 14 }, note: null,
    }
    return {
      user: hasFast(decode(user)),
      flat: sizes.map((n) => [n, hasFast(often(record(n)))]),
      nested: hasFast(often({ outer: [record(20)] }).outer[0]),
    }`)
  expect(result).toEqual({
    user: true,
    flat: [1, 16, 17, 19, 20, 21, 32, 64].map((n) => [n, true]),
    nested: true,
  })
})

test('a decoded object is a plain object, equal to the one sent, keys in order', () => {
  const result = inV8(`
    const sent = Object.fromEntries(Array.from({ length: 40 }, (_, i) => ['k' + (39 - i), { i }]))
    const got = decode(sent)
    return { proto: Object.getPrototypeOf(got) === Object.prototype, keys: Object.keys(got), same: JSON.stringify(got) === JSON.stringify(sent) }`)
  expect(result).toEqual({ proto: true, keys: Array.from({ length: 40 }, (_, i) => 'k' + (39 - i)), same: true })
})
