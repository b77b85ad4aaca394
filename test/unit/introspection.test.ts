/**
 * Introspection in one process: what a registry says of its names, the reserved `$` names, the bytes
 * of PROTOCOL.md chapter 18, the head a trace reads from encoded frames, and the trace of the side
 * that answers.
 */
import { describe, expect, test } from 'vitest'
import { Registry } from '../../src/core/registry.js'
import { formatTraceEvent, type TraceEvent } from '../../src/core/trace.js'
import { Codec } from '../../src/protocol/codec.js'
import { DESCRIBE_METHOD } from '../../src/protocol/introspection.js'
import { peekHead } from '../../src/protocol/peek.js'
import { connectedPair } from '../helpers/pairs.js'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

describe('Registry.describe', () => {
  test('names in the order exposed, with description, context, stream and parameters', () => {
    const registry = new Registry()
    registry.add('add', (a: number, b: number) => a + b, { description: 'adds two numbers' })
    registry.add('progressive', (_ctx: unknown, steps: number) => steps, { context: true })
    registry.add('items', async function* (count: number) {
      yield count
    })
    registry.add({ plain: () => 1 })
    expect(registry.describe()).toEqual([
      { name: 'add', description: 'adds two numbers', parameters: 2 },
      { name: 'progressive', context: true, parameters: 1 },
      { name: 'items', stream: true, parameters: 1 },
      { name: 'plain', parameters: 0 },
    ])
  })

  test('a description is cut at 1,000 characters; one that is not a string is a TypeError', () => {
    const registry = new Registry()
    registry.add('long', () => 0, { description: 'x'.repeat(5000) })
    expect(registry.describe()[0]!.description).toHaveLength(1000)
    expect(() => registry.add('bad', () => 0, { description: 42 as unknown as string })).toThrow(TypeError)
  })

  test("names starting with '$' are reserved for the protocol", () => {
    const registry = new Registry()
    expect(() => registry.add(DESCRIBE_METHOD, () => [])).toThrow(/reserved for the protocol/)
    expect(() => registry.add({ $secret: () => 1 })).toThrow(/reserved/)
    expect(registry.get(DESCRIBE_METHOD)).toBeUndefined()
  })
})

test('the example of PROTOCOL.md chapter 18', () => {
  const codec = new Codec()
  expect(hex(codec.encode([2, 1, DESCRIBE_METHOD, []]))).toBe('8402016924646573637269626580')
  const registry = new Registry()
  registry.add('add', (a: number, b: number) => a + b, { description: 'adds two numbers' })
  expect(hex(codec.encode([4, 1, registry.describe()]))).toBe(
    '83040181a3646e616d65636164646b6465736372697074696f6e70616464732074776f206e756d626572736a706172616d657465727302',
  )
})

describe('peekHead, for the trace', () => {
  const codec = new Codec()
  test.each([
    [[2, 300, 'add', [1, 2]], { type: 2, id: 300, method: 'add' }],
    [[3, 'log', ['x']], { type: 3, id: undefined, method: 'log' }],
    [[4, 70_000, 'value'], { type: 4, id: 70_000, method: undefined }],
    [[8, 2 ** 32 - 1, 1], { type: 8, id: 2 ** 32 - 1, method: undefined }],
    [[11, 2 ** 31], { type: 11, id: 2 ** 31, method: undefined }],
    [[13, null], { type: 13, id: undefined, method: undefined }],
  ])('%j', (message, head) => {
    expect(peekHead(codec.encode(message as never))).toEqual(head)
  })

  test('a long method name is cut; bytes that do not start a message have no head', () => {
    expect(peekHead(codec.encode([2, 1, 'm'.repeat(1000), []] as never))?.method).toHaveLength(256)
    expect(peekHead(Uint8Array.of(0x01, 0x02))).toBeUndefined()
    expect(peekHead(new Uint8Array(0))).toBeUndefined()
    expect(peekHead(Uint8Array.of(0x83, 0x02, 0x1a, 0x00))).toEqual({ type: 2, id: undefined, method: undefined })
  })
})

test('a trace line', () => {
  expect(formatTraceEvent({ direction: 'in', type: 'result', connection: 3, id: 7, method: 'add', size: 12, rtt: 0.25 })).toBe(
    '#3 <- result 7 "add" 12 B 0.250 ms',
  )
  expect(formatTraceEvent({ direction: 'out', type: 'notify', connection: 1, method: 'log', size: 9 })).toBe('#1 -> notify "log" 9 B')
})

test('the side that answers traces its frames, beside an untraced peer', async () => {
  const served: TraceEvent[] = []
  const { server, client } = await connectedPair({ trace: (event) => served.push(event) }, {})
  server.expose('add', (a: number, b: number) => a + b)
  expect(await client.rpc('add', 1, 2)).toBe(3)
  client.notify('add', 3, 4)
  await client.close()
  const seen = served.map(({ direction, type, id, method }) => [direction, type, id, method].filter((part) => part !== undefined).join(' '))
  expect(seen).toEqual(['out hello', 'in hello', 'in call 1 add', 'out result 1 add', 'in notify add', 'in goodbye'])
  // The client's own frames were traced only as the server received them.
  expect(served.filter(({ rtt }) => rtt !== undefined)).toEqual([])
})
