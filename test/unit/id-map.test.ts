import { describe, expect, test } from 'vitest'
import { IdMap, IdTable } from '../../src/core/id-map.js'

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

describe('IdTable', () => {
  /** Applies the same operations to an IdTable and a Map, and compares them after each. */
  function compare(operations: ['set' | 'delete', number][]): void {
    const table = new IdTable<{ id: number; n: number }>()
    const model = new Map<number, { id: number; n: number }>()
    let n = 0
    for (const [operation, id] of operations) {
      if (operation === 'set') {
        const value = { id, n: n++ }
        table.set(id, value)
        model.set(id, value)
      } else {
        expect(table.delete(id)).toBe(model.delete(id))
      }
      expect(table.size).toBe(model.size)
      expect(table.get(id)).toBe(model.get(id))
      expect(table.has(id)).toBe(model.has(id))
    }
    expect([...table]).toEqual([...model])
    for (const [id, value] of model) expect(table.get(id)).toBe(value)
  }

  test('answers as a Map does for calls in flight, ids in order, 64 alive', () => {
    const operations: ['set' | 'delete', number][] = []
    for (let id = 1; id <= 5_000; id++) {
      operations.push(['set', id])
      if (id > 64) operations.push(['delete', id - 64])
    }
    compare(operations)
  })

  test('keeps an id that outlives thousands after it, and the ids that fall on its slot', () => {
    // Id 1 stays alive: ids 9, 17, ... (then 33, 65, ... as the slots double) find its slot taken.
    const operations: ['set' | 'delete', number][] = [['set', 1]]
    for (let id = 2; id <= 3_000; id++) {
      operations.push(['set', id])
      if (id % 7 !== 0) operations.push(['delete', id])
    }
    operations.push(['set', 1], ['delete', 14], ['set', 14], ['delete', 1], ['delete', 1])
    compare(operations)
  })

  test('holds ids a peer chose to fall on one slot, and lets them go', () => {
    const operations: ['set' | 'delete', number][] = []
    for (let k = 0; k < 500; k++) operations.push(['set', k * 4096])
    for (let k = 0; k < 500; k += 2) operations.push(['delete', k * 4096])
    for (let k = 0; k < 500; k++) operations.push(['set', k * 4096 + 1])
    compare(operations)
  })

  test('answers as a Map does for random operations on a few hundred ids', () => {
    // A fixed linear congruential sequence: the same operations every run.
    let seed = 12345
    const next = (bound: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % bound
    }
    const operations: ['set' | 'delete', number][] = []
    for (let i = 0; i < 20_000; i++) operations.push([next(3) === 0 ? 'delete' : 'set', next(i < 10_000 ? 300 : 3_000)])
    compare(operations)
  })

  test('an IdTable with no entry reads as empty, and one emptied after a burst takes entries again', () => {
    const first = new IdTable<string>()
    const second = new IdTable<string>()
    expect(first.size).toBe(0)
    expect(first.get(0)).toBeUndefined()
    expect(first.get(-1)).toBeUndefined()
    expect(first.has(0)).toBe(false)
    expect(first.delete(0)).toBe(false)
    expect([...first]).toEqual([])
    first.set(0, 'zero')
    expect(second.get(0)).toBeUndefined()
    expect([...first]).toEqual([[0, 'zero']])
    // A burst of 1,000 grows the slots past what is kept; emptied, the table starts small again.
    for (let id = 1; id <= 1_000; id++) first.set(id, `#${id}`)
    for (let id = 0; id <= 1_000; id++) expect(first.delete(id)).toBe(true)
    expect(first.size).toBe(0)
    expect(first.get(500)).toBeUndefined()
    first.set(500, 'again')
    expect([...first]).toEqual([[500, 'again']])
    first.clear()
    expect([...first]).toEqual([])
  })
})
