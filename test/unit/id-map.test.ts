import { describe, expect, test } from 'vitest'
import { IdMap } from '../../src/core/id-map.js'

describe('IdMap', () => {
  test('keeps every live entry, in insertion order, across the moves to a fresh Map', () => {
    const map = new IdMap<{ id: number }>()
    const live: number[] = []
    // 10,000 insertions with 64 alive: the entries move to a fresh Map twice on the way.
    for (let id = 1; id <= 10_000; id++) {
      map.set(id, { id })
      live.push(id)
      if (live.length > 64) expect(map.delete(live.shift()!)).toBe(true)
    }
    expect(map.size).toBe(64)
    expect([...map].map(([id]) => id)).toEqual(live)
    for (const id of live) expect(map.get(id)).toEqual({ id })
    expect(map.has(live[0] - 1)).toBe(false)
    expect(map.get(1)).toBeUndefined()
    map.set(live[0], { id: -1 })
    expect(map.get(live[0])).toEqual({ id: -1 })
    expect(map.size).toBe(64)
    map.clear()
    expect(map.size).toBe(0)
    expect([...map]).toEqual([])
  })

  test('an IdMap with no entry yet reads as empty, and its first entry is its own', () => {
    const first = new IdMap<string>()
    const second = new IdMap<string>()
    expect(first.size).toBe(0)
    expect(first.get(1)).toBeUndefined()
    expect(first.has(1)).toBe(false)
    expect(first.delete(1)).toBe(false)
    first.clear()
    expect([...first]).toEqual([])
    expect([...first.values()]).toEqual([])
    // Both start from the shared empty Map: an entry of one must not show in the other.
    first.set(1, 'one')
    expect([...first]).toEqual([[1, 'one']])
    expect(second.size).toBe(0)
    expect(second.get(1)).toBeUndefined()
    expect(new IdMap<string>().has(1)).toBe(false)
    second.set(2, 'two')
    expect([...second]).toEqual([[2, 'two']])
    expect([...first]).toEqual([[1, 'one']])
  })
})
