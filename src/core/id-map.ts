/**
 * IdMap and IdTable: entries keyed by ids that only grow, a few alive at a time. IdMap is a Map that
 * keeps arrival order for queues; IdTable holds the calls in flight, looked up on every answer.
 */

/** Insertions after which the entries move to a fresh Map. */
const RENEW_AFTER = 4096

/** The Map of every IdMap that has had no entry yet; never written to. */
const EMPTY: ReadonlyMap<number, unknown> = new Map()

/**
 * A Map from ids to entries that moves its entries to a fresh Map every few thousand insertions.
 * As the ids move on, V8 replaces a Map's hash table, and each old table keeps a link to its
 * successor: once the Map has lived through a full garbage collection, every later table, and the
 * entries it held, survives the young-generation collections too. Then each insertion costs about ten
 * times as much (3 million insertions with 64 alive: 3.0 s against 0.3 s on Node 20), which a
 * long-running channel would pay on every call. A fresh Map's tables die young again.
 */
export class IdMap<V> {
  // Shared until the first insertion: most of a connection's maps stay empty (references, the trace,
  // calls waiting for a slot), and an empty Map's table costs about 150 bytes each.
  #map: Map<number, V> = EMPTY as Map<number, V>
  #insertions = 0

  get size(): number {
    return this.#map.size
  }

  get(id: number): V | undefined {
    return this.#map.get(id)
  }

  has(id: number): boolean {
    return this.#map.has(id)
  }

  set(id: number, value: V): void {
    if (this.#map === EMPTY) this.#map = new Map()
    if (++this.#insertions === RENEW_AFTER) {
      this.#insertions = 0
      this.#map = new Map(this.#map)
    }
    this.#map.set(id, value)
  }

  delete(id: number): boolean {
    return this.#map.delete(id)
  }

  clear(): void {
    if (this.#map !== EMPTY) this.#map.clear()
  }

  /** The values, in insertion order. */
  values(): MapIterator<V> {
    return this.#map.values()
  }

  /** The entries, in insertion order. */
  [Symbol.iterator](): MapIterator<[number, V]> {
    return this.#map[Symbol.iterator]()
  }
}

/** Slots of an IdTable at its first entry; it doubles as entries fill half of them. */
const FIRST_SLOTS = 8
/** An IdTable of more slots than this that empties lets them go: a burst of calls does not keep its memory. */
const KEPT_SLOTS = 256
/** The slots of every IdTable that has no entry; never written to. */
const NO_IDS: readonly number[] = [-1]
const NO_VALUES: readonly undefined[] = [undefined]

/** An entry that did not fit its slot (taken by an older id), with its place in insertion order. */
interface Spilled<V> {
  value: V
  order: number
}

/**
 * Entries keyed by ids, for the calls in flight: get, set and delete touch one array slot (the id's low
 * bits) and allocate nothing, where a Map allocates a new hash table each time it empties (every call,
 * one at a time) and as deleted entries fill it. An id whose slot an older id holds (a call that
 * outlives thousands after it, or ids a peer chose alike) goes to a Map beside the slots. The slots
 * double when half are taken, so they number at most about four times the entries alive at once.
 * Iteration is in insertion order but sorts, and is for closing, not for a queue. Values are never
 * undefined.
 */
export class IdTable<V> {
  #ids = NO_IDS as number[]
  #values = NO_VALUES as (V | undefined)[]
  /** Each slot's place in insertion order. */
  #orders: number[] = []
  #mask = 0
  /** Entries in slots. */
  #slotted = 0
  #spilled: Map<number, Spilled<V>> | undefined
  #inserted = 0

  get size(): number {
    return this.#slotted + (this.#spilled?.size ?? 0)
  }

  get(id: number): V | undefined {
    const slot = id & this.#mask
    // A slot left empty keeps its last id, with an undefined value: the answer for that id too.
    if (this.#ids[slot] === id) return this.#values[slot]
    return this.#spilled === undefined ? undefined : this.#spilled.get(id)?.value
  }

  has(id: number): boolean {
    return this.get(id) !== undefined
  }

  set(id: number, value: V): void {
    if (this.#values === NO_VALUES) this.#allocate(FIRST_SLOTS)
    const slot = id & this.#mask
    const held = this.#values[slot]
    if (held !== undefined && this.#ids[slot] === id) {
      this.#values[slot] = value
      return
    }
    const spilled = this.#spilled?.get(id)
    if (spilled !== undefined) spilled.value = value
    else if (held !== undefined) (this.#spilled ??= new Map()).set(id, { value, order: this.#inserted++ })
    else {
      this.#ids[slot] = id
      this.#values[slot] = value
      this.#orders[slot] = this.#inserted++
      if (++this.#slotted > (this.#mask + 1) >> 1) this.#grow()
    }
  }

  delete(id: number): boolean {
    const slot = id & this.#mask
    if (this.#ids[slot] === id && this.#values[slot] !== undefined) {
      this.#values[slot] = undefined
      this.#slotted--
    } else {
      const spilled = this.#spilled
      if (spilled === undefined || !spilled.delete(id)) return false
      if (spilled.size === 0) this.#spilled = undefined
    }
    if (this.#slotted === 0 && this.#spilled === undefined && this.#mask >= KEPT_SLOTS) this.clear()
    return true
  }

  clear(): void {
    this.#ids = NO_IDS as number[]
    this.#values = NO_VALUES as (V | undefined)[]
    this.#orders = []
    this.#mask = 0
    this.#slotted = 0
    this.#spilled = undefined
  }

  /** The entries, in insertion order. */
  [Symbol.iterator](): IterableIterator<[number, V]> {
    const entries: [number, V, number][] = []
    for (let slot = 0; slot <= this.#mask; slot++) {
      const value = this.#values[slot]
      if (value !== undefined) entries.push([this.#ids[slot], value, this.#orders[slot]])
    }
    if (this.#spilled) for (const [id, { value, order }] of this.#spilled) entries.push([id, value, order])
    entries.sort((a, b) => a[2] - b[2])
    return entries.map(([id, value]): [number, V] => [id, value])[Symbol.iterator]()
  }

  #allocate(slots: number): void {
    this.#ids = filled(slots, -1)
    this.#values = filled<V | undefined>(slots, undefined)
    this.#orders = filled(slots, 0)
    this.#mask = slots - 1
    this.#slotted = 0
  }

  /** Twice the slots; entries that had spilled move into slots that are now free. */
  #grow(): void {
    const ids = this.#ids
    const values = this.#values
    const orders = this.#orders
    this.#allocate(2 * ids.length)
    for (let slot = 0; slot < ids.length; slot++) if (values[slot] !== undefined) this.#place(ids[slot], values[slot]!, orders[slot])
    const spilled = this.#spilled
    if (spilled === undefined) return
    for (const [id, entry] of spilled) {
      if (this.#values[id & this.#mask] === undefined) {
        this.#place(id, entry.value, entry.order)
        spilled.delete(id)
      }
    }
    if (spilled.size === 0) this.#spilled = undefined
  }

  #place(id: number, value: V, order: number): void {
    const slot = id & this.#mask
    this.#ids[slot] = id
    this.#values[slot] = value
    this.#orders[slot] = order
    this.#slotted++
  }
}

/** An array of `length` copies of `value`, built by pushing so that V8 keeps it packed (no holes to test for). */
function filled<T>(length: number, value: T): T[] {
  const array: T[] = []
  for (let i = 0; i < length; i++) array.push(value)
  return array
}
