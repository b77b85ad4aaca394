/**
 * IdMap: the Map for entries keyed by ids that only grow, a few alive at a time (calls in flight).
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
