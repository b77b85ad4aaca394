import { describe, expect, test } from 'vitest'
import { MAX_CANDIDATES, closestName, notFoundHint } from '../../src/core/suggest.js'

describe('closestName', () => {
  test('one edit away for short names: a swap, a letter missing, added or replaced', () => {
    const names = ['echo', 'add', 'subtract', 'checkPassword']
    expect(closestName('ecoh', names)).toBe('echo')
    expect(closestName('ech', names)).toBe('echo')
    expect(closestName('echoo', names)).toBe('echo')
    expect(closestName('adx', names)).toBe('add')
    expect(closestName('xyz', names)).toBeUndefined()
  })

  test('more edits for longer names: 2 up to 8 characters, 3 beyond', () => {
    expect(closestName('subtrat', ['subtract'])).toBe('subtract')
    expect(closestName('sbtrat', ['subtract'])).toBe('subtract')
    expect(closestName('chckPasswrd', ['checkPassword'])).toBe('checkPassword')
    expect(closestName('chkPaswrd', ['checkPassword'])).toBeUndefined()
  })

  test('the closest wins; a tie goes to the first', () => {
    expect(closestName('cat', ['bat', 'cart', 'cut'])).toBe('bat')
    expect(closestName('carts', ['bat', 'cart'])).toBe('cart')
  })

  test('a name left without its namespace finds the one namespaced name that ends with it', () => {
    expect(closestName('check', ['auth.check', 'echo'])).toBe('auth.check')
    expect(closestName('check', ['auth.check', 'admin.check'])).toBeUndefined()
  })

  test('the work is bounded: long names and long candidate lists give no suggestion', () => {
    expect(closestName('x'.repeat(65), ['x'.repeat(64)])).toBeUndefined()
    const many = Array.from({ length: MAX_CANDIDATES + 1 }, (_, i) => `name${i}`)
    expect(closestName('name1x', many)).toBeUndefined()
    expect(closestName('name1x', many.slice(0, 10))).toBe('name1')
  })
})

describe('notFoundHint', () => {
  test('names the closest and counts every source, or says nothing', () => {
    const own = { size: 2, names: () => ['echo', 'add'] }
    const shared = { size: 1, names: () => ['auth.check'] }
    expect(notFoundHint('ecoh', [own, shared])).toBe(' (did you mean "echo"? 3 names are exposed)')
    expect(notFoundHint('auth.chek', [own, undefined, shared])).toBe(' (did you mean "auth.check"? 3 names are exposed)')
    expect(notFoundHint('ecoh', [{ size: 1, names: () => ['echo'] }])).toBe(' (did you mean "echo"? 1 name is exposed)')
    expect(notFoundHint('zzz', [own, shared])).toBe('')
    expect(notFoundHint('ecoh', [])).toBe('')
  })
})
