/**
 * References between two channels of this process (the in-memory transport): functions, ref()
 * objects and AbortSignals passed by reference, identity, release by dispose and by the collector,
 * the bounds, and what is refused when there is no connection or no feature.
 */
import { Encoder, Tag } from 'cbor-x'
import { describe, expect, test, vi } from 'vitest'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  AbortError,
  ChannelClosedError,
  IpcError,
  MethodNotFoundError,
  ProtocolError,
  ref,
  SerializationError,
  TimeoutError,
  type CallContext,
  type Channel,
  type Stub,
} from '../../src/index.js'
import { CODEC_OPTIONS } from '../../src/protocol/codec.js'
import { MessageType } from '../../src/protocol/messages.js'
import { REFERENCE_TAG } from '../../src/protocol/references.js'
import { channelPair, connectedPair } from '../helpers/pairs.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Collects, and lets finalizers and the releases they queue run and arrive. */
async function collect(...channels: Channel[]): Promise<void> {
  for (let i = 0; i < 20; i++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 5))
    if (channels.every((channel) => channel.stats().exportedReferences === 0 && channel.stats().importedReferences === 0)) return
  }
}

describe('functions by reference', () => {
  test('a callback in the arguments is called back on the side that owns it', async () => {
    const { server, client } = await connectedPair()
    server.expose('twice', async (fn: Stub<(n: number) => number>, n: number) => (await fn(n)) + (await fn(n + 1)))
    const seen: number[] = []
    const result = await client.rpc(
      'twice',
      (n: number) => {
        seen.push(n)
        return n * 10
      },
      1,
    )
    expect(result).toBe(30)
    expect(seen).toEqual([1, 2])
  })

  test('a function returned by a handler is a stub that calls it', async () => {
    const { server, client } = await connectedPair()
    let count = 0
    server.expose('counter', () => () => ++count)
    const next = (await client.rpc('counter')) as Stub<() => number>
    expect(await next()).toBe(1)
    expect(await next()).toBe(2)
    expect(server.stats().exportedReferences).toBe(1)
    expect(client.stats().importedReferences).toBe(1)
  })

  test('the same function sent twice is the same stub; sent back, it is the original', async () => {
    const { server, client } = await connectedPair()
    const held: unknown[] = []
    server.expose('hold', (fn: unknown) => held.push(fn))
    server.expose('give', () => held[0])
    const fn = (): number => 1
    await client.rpc('hold', fn)
    await client.rpc('hold', fn)
    expect(held[0]).toBe(held[1])
    expect(await client.rpc('give')).toBe(fn)
    expect(client.stats().exportedReferences).toBe(1)
  })

  test('a notification carries a callback too; before the connection is open, notify throws', async () => {
    const { server, client, attach } = channelPair()
    expect(() => client.notify('register', () => 'early')).toThrow(SerializationError)
    await Promise.all(attach())
    const registered = new Promise<Stub<() => string>>((resolve) => server.expose('register', resolve))
    client.notify('register', () => 'called back')
    expect(await (await registered)()).toBe('called back')
  })

  test('a remote throw through a stub keeps its class and message', async () => {
    const { server, client } = await connectedPair()
    server.expose('call', (fn: Stub<() => void>) => fn())
    const error = await client
      .rpc('call', () => {
        throw new RangeError('out of range')
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RangeError)
    expect((error as Error).message).toBe('out of range')
  })

  test('disposing a stub releases it: its calls reject with ERR_REFERENCE_RELEASED and the owner forgets it', async () => {
    const { server, client } = await connectedPair()
    server.expose('fn', () => () => 1)
    const stub = (await client.rpc('fn')) as Stub<() => number>
    expect(server.stats().exportedReferences).toBe(1)
    stub[Symbol.dispose]()
    stub[Symbol.dispose]()
    const error = await stub().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IpcError)
    expect((error as IpcError).code).toBe('ERR_REFERENCE_RELEASED')
    expect(client.stats().importedReferences).toBe(0)
    await client.rpc('fn').then((s) => (s as Stub<() => number>)[Symbol.dispose]())
    await server.rpc('noop').catch(() => {})
    expect(server.stats().exportedReferences).toBe(0)
  })

  test('a release that crosses a new sending of the same reference does not drop it: releases carry counts', async () => {
    const { server, client } = await connectedPair()
    const stubs: Stub<() => string>[] = []
    client.expose('take', (stub: Stub<() => string>) => void stubs.push(stub))
    const fn = (): string => 'alive'
    await server.rpc('take', fn)
    // Sent again before the release below reaches the server: the client disposes the stub it holds
    // while the second sending is on its way, and gets a new stub for the same reference.
    const second = server.rpc('take', fn)
    stubs[0][Symbol.dispose]()
    await second
    expect(stubs[1]).not.toBe(stubs[0])
    expect(await stubs[1]()).toBe('alive')
    expect(server.stats().exportedReferences).toBe(1)
    stubs[1][Symbol.dispose]()
    await server.rpc('nothing').catch(() => {})
    expect(server.stats().exportedReferences).toBe(0)
  })

  test('a stub is released when collected', async () => {
    const { server, client } = await connectedPair()
    const fn = (): number => 1
    server.expose('fn', () => fn)
    for (let i = 0; i < 100; i++) await client.rpc('fn', i)
    expect(client.stats().importedReferences).toBe(1)
    await collect(server, client)
    expect(client.stats().importedReferences).toBe(0)
    expect(server.stats().exportedReferences).toBe(0)
  })

  test('a stub rejects with ChannelClosedError once its connection ended', async () => {
    const { server, client } = await connectedPair()
    server.expose('fn', () => () => 1)
    const stub = (await client.rpc('fn')) as Stub<() => number>
    await server.close()
    await expect(stub()).rejects.toBeInstanceOf(ChannelClosedError)
    expect(client.stats().importedReferences).toBe(0)
  })
})

describe('a stub call has everything a call has', () => {
  test('progress, abort reaching the owner, a timeout, and streaming', async () => {
    const { server, client } = await connectedPair()
    const aborted: unknown[] = []
    const work = ref(
      (context: CallContext, steps: number) =>
        new Promise<never>(() => {
          for (let i = 1; i <= steps; i++) context.progress(i)
          context.signal.addEventListener('abort', () => aborted.push(context.signal.reason))
        }),
      { context: true },
    )
    server.expose('tools', () => ({
      work,
      count: async function* (to: number) {
        for (let i = 1; i <= to; i++) yield i
      },
    }))
    const tools = (await client.rpc('tools')) as { work: Stub<(steps: number) => Promise<void>>; count: Stub<(to: number) => AsyncGenerator<number>> }
    const progress: unknown[] = []
    const call = tools.work(2).onProgress((value) => progress.push(value))
    await vi.waitFor(() => expect(progress).toEqual([1, 2]))
    call.abort('enough')
    await expect(call).rejects.toBeInstanceOf(AbortError)
    await vi.waitFor(() => expect(aborted).toEqual(['enough']))
    await expect(tools.work(0).timeout(20)).rejects.toBeInstanceOf(TimeoutError)
    await vi.waitFor(() => expect(aborted).toHaveLength(2))
    const items: number[] = []
    for await (const item of tools.count(3)) items.push(item)
    expect(items).toEqual([1, 2, 3])
    expect(await tools.count(2)).toEqual([1, 2])
  })
})

describe('objects by reference', () => {
  test('ref(object): its function properties are callable, the rest is not', async () => {
    const { server, client } = await connectedPair()
    const counter = {
      value: 0,
      add(n: number) {
        return (this.value += n)
      },
    }
    server.expose('counter', () => ref(counter))
    const stub = (await client.rpc('counter')) as Stub<typeof counter>
    expect(await stub.add(2)).toBe(2)
    expect(await stub.add(3)).toBe(5)
    await expect((stub as unknown as { value: () => unknown }).value()).rejects.toBeInstanceOf(MethodNotFoundError)
    expect((stub as unknown as { then?: unknown }).then).toBeUndefined()
    expect(await client.rpc('counter')).toBe(stub)
  })

  test('a ref() object sent back is the original', async () => {
    const { server, client } = await connectedPair()
    const object = { f: () => 1 }
    server.expose('echo', (value: unknown) => value)
    expect(await client.rpc('echo', ref(object))).toBe(object)
  })
})

describe('revoke', () => {
  test('the owner revokes a capability: calls through the peer stubs are refused; sent again, it is a new reference', async () => {
    const { server, client } = await connectedPair()
    const capability = { read: () => 'data' }
    server.expose('grant', () => ref(capability))
    const stub = (await client.rpc('grant')) as Stub<typeof capability>
    expect(await stub.read()).toBe('data')
    expect(server.revoke(capability)).toBe(true)
    expect(server.revoke(capability)).toBe(false)
    const error = await stub.read().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IpcError)
    expect((error as IpcError).code).toBe('ERR_REFERENCE_RELEASED')
    expect((error as Error).message).toMatch(/revoked/)
    // Still counted until the peer lets go of its stub.
    expect(server.stats().exportedReferences).toBe(1)
    const again = (await client.rpc('grant')) as Stub<typeof capability>
    expect(again).not.toBe(stub)
    expect(await again.read()).toBe('data')
    stub[Symbol.dispose]()
    again[Symbol.dispose]()
    await client.rpc('grant').then((s) => (s as Stub<typeof capability>)[Symbol.dispose]())
    await server.rpc('nothing').catch(() => {})
    expect(server.stats().exportedReferences).toBe(0)
    expect(server.revoke({})).toBe(false)
  })
})

describe('AbortSignal by reference', () => {
  test('aborts on the other side with the sender reason', async () => {
    const { server, client } = await connectedPair()
    let received: AbortSignal | undefined
    const aborted = new Promise<unknown>((resolve) => {
      server.expose('wait', (signal: AbortSignal) => {
        received = signal
        signal.addEventListener('abort', () => resolve(signal.reason))
        return true
      })
    })
    const controller = new AbortController()
    await client.rpc('wait', controller.signal)
    expect(received).toBeInstanceOf(AbortSignal)
    expect(received!.aborted).toBe(false)
    controller.abort(new TypeError('enough'))
    const reason = await aborted
    expect(reason).toBeInstanceOf(TypeError)
    expect((reason as Error).message).toBe('enough')
  })

  test('an AbortSignal that already aborted arrives aborted', async () => {
    const { server, client } = await connectedPair()
    server.expose('state', (signal: AbortSignal) => [signal.aborted, (signal.reason as Error).message])
    expect(await client.rpc('state', AbortSignal.abort(new Error('before')))).toEqual([true, 'before'])
    expect(client.stats().exportedReferences).toBe(0)
  })
})

describe('forwarding', () => {
  test('a stub of one connection sent over another travels as a reference of its own, which calls through', async () => {
    const first = await connectedPair()
    const second = await connectedPair()
    const counter = { total: 0, add: (n: number) => (counter.total += n) }
    first.server.expose('double', () => (n: number) => n * 2)
    first.server.expose('counter', () => ref(counter))
    const double = (await first.client.rpc('double')) as Stub<(n: number) => number>
    const remoteCounter = (await first.client.rpc('counter')) as Stub<typeof counter>
    second.server.expose('use', async (fn: Stub<(n: number) => number>, object: Stub<typeof counter>) => [await fn(21), await object.add(5)])
    expect(await second.client.rpc('use', double, remoteCounter)).toEqual([42, 5])
    expect(counter.total).toBe(5)
    expect(second.client.stats().exportedReferences).toBe(2)
    // ref() of a stub is the stub.
    expect(await second.client.rpc('use', double, ref(remoteCounter))).toEqual([42, 10])
  })

  test('an imported AbortSignal forwarded over another connection aborts there too, even once aborted', async () => {
    const first = await connectedPair()
    const second = await connectedPair()
    const reasons: unknown[] = []
    second.server.expose('watch', (signal: AbortSignal) => {
      if (signal.aborted) reasons.push(signal.reason)
      else signal.addEventListener('abort', () => reasons.push(signal.reason))
    })
    let imported: AbortSignal | undefined
    first.server.expose('forward', async (signal: AbortSignal) => {
      imported = signal
      await second.client.rpc('watch', signal)
    })
    const controller = new AbortController()
    await first.client.rpc('forward', controller.signal)
    controller.abort('first')
    await vi.waitFor(() => expect(reasons).toEqual(['first']))
    await second.client.rpc('watch', imported)
    expect(reasons).toEqual(['first', 'first'])
  })
})

describe('refused', () => {
  test('before the connection is open, a function fails with SerializationError', async () => {
    const { client, attach } = channelPair()
    const call = client.rpc('x', () => 1)
    await expect(call).rejects.toBeInstanceOf(SerializationError)
    await Promise.all(attach())
  })

  test('maxReferences: 0 turns references off on this side, and says so', async () => {
    const { server, client } = await connectedPair({}, { maxReferences: 0 })
    server.expose('echo', (value: unknown) => value)
    await expect(client.rpc('echo', () => 1)).rejects.toThrow(/turned off on this channel \(maxReferences: 0\)/)
  })

  test('a peer without the feature: SerializationError on this side, the connection goes on', async () => {
    const { server, client } = await connectedPair({}, { maxReferences: 0 })
    server.expose('echo', (value: unknown) => value)
    await expect(client.rpc('echo', () => 1)).rejects.toBeInstanceOf(SerializationError)
    await expect(client.rpc('echo', new AbortController().signal)).rejects.toThrow(
      'cannot send an AbortSignal by reference: references are turned off on this channel (maxReferences: 0)',
    )
    await expect(server.rpc('x', ref({ f() {} }))).rejects.toThrow('cannot send an object by reference: the peer does not support references')
    expect(await client.rpc('echo', 1)).toBe(1)
  })

  test('maxReferences: the export that would pass the bound fails, the others go on', async () => {
    const { server, client } = await connectedPair({ maxReferences: 3 })
    const held: unknown[] = []
    server.expose('hold', (fn: unknown) => held.push(fn))
    for (let i = 0; i < 3; i++) await client.rpc('hold', () => i)
    const error = await client.rpc('hold', () => 4).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SerializationError)
    expect((error as Error).message).toMatch(/maxReferences/)
    expect(client.stats().exportedReferences).toBe(3)
    expect(await client.rpc('hold', 5)).toBe(4)
  })

  test('the lower bound of the two ends applies to exports', async () => {
    const { server, client } = await connectedPair({ maxReferences: 2 }, { maxReferences: 100 })
    server.expose('hold', () => true)
    const keep: unknown[] = []
    const fns = [(): void => {}, (): void => {}, (): void => {}]
    keep.push(fns)
    await client.rpc('hold', fns[0])
    await client.rpc('hold', fns[1])
    await expect(client.rpc('hold', fns[2])).rejects.toThrow(/maxReferences/)
  })

  test('a peer that exports more than this side accepts is cut off with ProtocolError', async () => {
    const { server, clientTransport } = await connectedPair({ maxReferences: 2 }, { maxReferences: 10 })
    server.expose('hold', () => true)
    const failed = new Promise<unknown>((resolve) => server.on('error', resolve))
    const tag = (id: number): Tag => new Tag([0, id], REFERENCE_TAG)
    clientTransport.send(new Encoder(CODEC_OPTIONS).encode([MessageType.Call, 1, 'hold', [tag(1), tag(2), tag(3)]]))
    const error = await failed
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toBe('the peer exported more than 2 references at once (maxReferences)')
  })

  test('a forged reference sent back closes the connection with ProtocolError', async () => {
    const { server, client, clientTransport } = await connectedPair()
    server.expose('echo', (value: unknown) => value)
    const failed = new Promise<unknown>((resolve) => server.on('error', resolve))
    // [2, 99, "echo", [tag 49374 [3, 12345]]]
    clientTransport.send(
      Uint8Array.from([0x84, 0x02, 0x18, 0x63, 0x64, 0x65, 0x63, 0x68, 0x6f, 0x81, 0xd9, 0xc0, 0xde, 0x82, 0x03, 0x19, 0x30, 0x39]),
    )
    expect(await failed).toBeInstanceOf(ProtocolError)
    void client
  })
})
