/**
 * The structured payloads the codec benchmarks measure (bench/micro.js, and bench/instructions.js in
 * codec mode): a 20-field record with a Date, and the same with a Map, a Set, a Float64Array and a
 * BigInt. One definition, so that the timings and the instruction counts are of the same values.
 */

/** A 20-field record with a Date, as an application would send it. */
export const record = {
  id: 1000,
  kind: 'order',
  status: 'shipped',
  customer: 'Ada Lovelace',
  email: 'ada@example.com',
  createdAt: new Date(1_700_000_000_123),
  quantity: 3,
  unitPrice: 19.99,
  total: 59.97,
  currency: 'EUR',
  paid: true,
  gift: false,
  note: null,
  tags: ['priority', 'fragile'],
  address: { street: '12 Analytical Way', city: 'London', zip: 'N1 9GU' },
  lines: 2,
  warehouse: 'LHR-4',
  carrier: 'dhl',
  tracking: 'JD014600006281234567',
  version: 7,
}
/** The same with a Map, a Set, a typed array and a BigInt. */
export const rich = {
  ...record,
  stock: new Map([
    ['LHR-4', 12],
    ['CDG-1', 0],
  ]),
  regions: new Set(['eu', 'uk']),
  samples: new Float64Array([0.5, 1.25, 2.5, 5]),
  ledger: 9_007_199_254_740_993n,
}
