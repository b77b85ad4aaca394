/**
 * Channels over NATS between real processes and a real nats-server: a service's members sharing
 * clients, a member killed mid-call, the broker killed and restarted under load, a long stream to a
 * slow consumer, a 16 MiB frame, and a service nobody serves.
 */
import { describe, expect, it } from 'vitest'
import { ChannelClosedError, Client, SerializationError, TimeoutError, connect } from '../../../dist/index.js'
import { freePort, natsServerPath, startBroker, startMember } from '../../helpers/nats-broker.js'
import { newClient, nextMessage, within } from '../support.js'

if (!natsServerPath) console.warn('nats-server is not installed: the NATS tests are skipped (apt-get install nats-server)')

describe.skipIf(!natsServerPath)('NATS: a service and its members', () => {
  it('spreads 20 clients over three members, and every call of a client stays on its member', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.share')
    const members = await Promise.all([0, 1, 2].map(() => startMember(url)))
    const clients = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const client = newClient(url)
        await within(5000, client.ready(), 'connecting to the service')
        return client
      }),
    )
    const served = new Map<number, number>()
    for (const client of clients) {
      const pids = await within(5000, Promise.all(Array.from({ length: 10 }, () => client.rpc<number>('pid'))), 'ten calls')
      expect(new Set(pids).size).toBe(1)
      expect(members.map((member) => member.pid)).toContain(pids[0])
      served.set(pids[0], (served.get(pids[0]) ?? 0) + 1)
    }
    // The broker picks a queue member at random: all on one of three has odds of 3^-19.
    expect(served.size).toBeGreaterThanOrEqual(2)
    expect([...served.values()].reduce((a, b) => a + b)).toBe(20)
  })

  it('fails the calls of a SIGKILLed member at once, and a reconnecting client lands on a survivor', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.die')
    const members = await Promise.all([0, 1].map(() => startMember(url)))
    const client = newClient(url, { reconnect: { initialDelay: 50 } })
    const pid = await within(5000, client.rpc<number>('pid'), 'the first call')
    const victim = members.find((member) => member.pid === pid)!
    const survivor = members.find((member) => member !== victim)!
    const pending = client.rpc('hang', 'x')
    await nextMessage(victim.fixture, 'hanging')
    const killedAt = performance.now()
    victim.fixture.child.kill('SIGKILL')
    const error = await within(
      3000,
      pending.then(
        () => undefined,
        (failure: unknown) => failure,
      ),
      'the failed call',
    )
    const elapsed = performance.now() - killedAt
    expect(error).toBeInstanceOf(ChannelClosedError)
    // The broker's "no responders" ended it, not the heartbeat (whose default takes seconds).
    expect(((error as Error).cause as { code?: string }).code).toBe('ECONNRESET')
    console.info(`a killed member's call failed after ${elapsed.toFixed(0)} ms`)
    expect(await within(10_000, client.rpc<number>('pid'), 'a call after reconnecting')).toBe(survivor.pid)
  })

  it('ends every channel at once when the broker dies, and reconnecting clients come back with it', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.restart')
    const member = await startMember(url)
    const clients = [newClient(url, { reconnect: { initialDelay: 50, maxDelay: 500 } }), newClient(url, { reconnect: true })]
    await within(5000, Promise.all(clients.map((client) => client.ready())), 'connecting')
    const pending = clients.flatMap((client, n) => Array.from({ length: 32 }, (_, i) => client.rpc('hang', `${n}.${i}`)))
    for (let i = 0; i < 64; i++) await nextMessage(member.fixture, 'hanging')
    const outcomes = Promise.allSettled(pending)
    const killedAt = performance.now()
    await broker.kill()
    const settled = await within(3000, outcomes, 'the 64 calls in flight')
    console.info(`the broker's death failed 64 calls after ${(performance.now() - killedAt).toFixed(0)} ms`)
    for (const outcome of settled) {
      expect(outcome.status).toBe('rejected')
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(ChannelClosedError)
    }
    expect(clients.every((client) => !client.connected)).toBe(true)
    await broker.restart()
    for (const client of clients) {
      expect(await within(15_000, client.rpc<number>('pid'), 'a call once the broker is back')).toBe(member.pid)
    }
  })

  it('streams 100,000 items in order to a slow consumer, within the stream window', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.stream')
    await startMember(url)
    const client = newClient(url, { streamWindow: 16 })
    let expected = 0
    const consumed = (async () => {
      for await (const item of client.rpc<never, number>('count', 100_000)) {
        expect(item).toBe(expected++)
        // A consumer slower than the producer: a macrotask every 5,000 items.
        if (item % 5000 === 0) await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    await within(60_000, consumed, 'the stream of 100,000 items')
    expect(expected).toBe(100_000)
  })

  it("carries a 16 MiB frame each way, in pieces of the broker's max_payload", async () => {
    const broker = await startBroker()
    const url = broker.url('svc.big')
    await startMember(url)
    const client = newClient(url)
    const sent = new Uint8Array(16 * 1024 * 1024).map((_, i) => i % 251)
    const echoed = await within(20_000, client.rpc<Uint8Array>('echo', sent), 'a 16 MiB echo')
    expect(echoed.byteLength).toBe(sent.byteLength)
    expect(Buffer.compare(Buffer.from(echoed), Buffer.from(sent))).toBe(0)
    const filled = await within(20_000, client.rpc<Uint8Array>('bytes', 16 * 1024 * 1024, 9), '16 MiB from the member')
    expect(filled.byteLength).toBe(16 * 1024 * 1024)
    expect(filled.every((byte) => byte === 9)).toBe(true)
  })

  it("does not send a frame above the member's maxFrameSize: the call fails, the channel stays", async () => {
    const broker = await startBroker()
    const url = broker.url('svc.limit')
    await startMember(url, { maxFrameSize: 1024 * 1024 })
    const client = newClient(url)
    await within(5000, client.ready(), 'connecting')
    await expect(client.rpc('echo', new Uint8Array(4 * 1024 * 1024))).rejects.toBeInstanceOf(SerializationError)
    expect(await within(5000, client.rpc('echo', 'still here'), 'a call after the refused one')).toBe('still here')
  })
})

describe.skipIf(!natsServerPath)('NATS: nobody there', () => {
  it('rejects connect() with ECONNREFUSED when no member listens, without waiting for a timeout', async () => {
    const broker = await startBroker()
    const error = await within(
      3000,
      connect(broker.url('svc.nobody')).then(
        () => undefined,
        (failure: unknown) => failure,
      ),
      'connect() to an empty service',
    )
    expect(error).not.toBeInstanceOf(TimeoutError)
    expect(error).toMatchObject({ code: 'ECONNREFUSED', message: expect.stringMatching(/no member of svc\.nobody/) })
  })

  it('rejects connect() with ECONNREFUSED when no broker listens', async () => {
    const port = await freePort()
    const error = await within(
      5000,
      connect(`nats://127.0.0.1:${port}/svc.x`).then(
        () => undefined,
        (failure: unknown) => failure,
      ),
      'connect() without a broker',
    )
    expect(error).toMatchObject({ code: 'ECONNREFUSED', message: expect.stringMatching(/no NATS broker/) })
  })

  it('a reconnecting client waits for the first member and then connects', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.later')
    const client = newClient(url, { reconnect: { initialDelay: 50, maxDelay: 200 } })
    const reconnecting = new Promise((resolve) => client.once('reconnecting', resolve))
    await within(3000, reconnecting, 'a retry after no responders')
    const member = await startMember(url)
    expect(await within(5000, client.rpc<number>('pid'), 'a call once a member joined')).toBe(member.pid)
  })

  it('refuses nats:// addresses it cannot use, and the nats option elsewhere', () => {
    expect(() => new Client('nats://host:4222/svc.*', { reconnect: false })).toThrow(/invalid NATS service/)
    expect(() => new Client('nats://user:pw@host:4222/svc')).toThrow(/credentials go in the nats option/)
    expect(() => new Client('nats://host:4222/')).toThrow(TypeError)
    expect(() => new Client('/tmp/x.sock', { nats: {} })).toThrow(/nats option needs a nats:\/\/ address/)
    expect(() => new Client('nats://host:4222/svc', { nats: { servers: 'elsewhere' } })).toThrow(/takes no servers/)
  })
})
