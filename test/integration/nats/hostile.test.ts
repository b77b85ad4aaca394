/**
 * NATS channels against a third client of the broker: one that sees every message (it subscribes to
 * `_ipc.>`) and injects, replays and alters them; wrong and missing secrets; a raw client that breaks
 * the connect request and the framing. Real nats-server, real member processes.
 */
import { connect as natsConnect, type Msg, type NatsConnection } from 'nats'
import { onTestFinished, describe, expect, it } from 'vitest'
import { AuthenticationError, connect } from '../../../dist/index.js'
import { natsServerPath, startBroker, startMember, type Broker } from '../../helpers/nats-broker.js'
import { newClient, nextMessage, within } from '../support.js'

/** A plain NATS client of the broker, closed after the test. */
async function thirdClient(broker: Broker): Promise<NatsConnection> {
  const connection = await natsConnect({ servers: `127.0.0.1:${broker.port}` })
  onTestFinished(() => connection.close())
  return connection
}

/**
 * Subscribes to every channel subject and keeps what it sees, in order, until `stop()`. While it
 * listens, the channel subjects always have a subscriber, so the broker's "no responders" cannot
 * report a peer that is gone (PROTOCOL.md 19.5).
 */
async function spy(connection: NatsConnection): Promise<{ seen: Msg[]; stop(): Promise<void> }> {
  const seen: Msg[] = []
  const subscription = connection.subscribe('_ipc.>', { callback: (_error, message) => seen.push(message) })
  await connection.flush()
  return {
    seen,
    async stop() {
      subscription.unsubscribe()
      await connection.flush()
    },
  }
}

/** A data message's sequence number (PROTOCOL.md 19.3). */
function sequenceOf(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  return view.getUint32(1) * 2 ** 32 + view.getUint32(5)
}

describe.skipIf(!natsServerPath)('NATS: a third client of the broker', () => {
  it('can neither inject, replay nor alter a frame when the channel has a secret', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.guarded')
    await startMember(url, { secret: 'shared' })
    const third = await thirdClient(broker)
    const { seen } = await spy(third)
    const client = newClient(url, { secret: 'shared' })
    for (let i = 0; i < 5; i++) expect(await within(5000, client.rpc('echo', i), 'a call')).toBe(i)
    const data = seen.filter((message) => message.data[0] === 1)
    expect(data.length).toBeGreaterThan(0)
    // Replays, in order and out of it, to both ends.
    for (const message of [...data, ...data.slice().reverse()]) third.publish(message.subject, message.data)
    // Alterations: one byte flipped in the body, and in the MAC.
    for (const message of data) {
      const altered = message.data.slice()
      altered[9] ^= 0xff
      third.publish(message.subject, altered)
      const badMac = message.data.slice()
      badMac[badMac.byteLength - 1] ^= 0x01
      third.publish(message.subject, badMac)
    }
    // An injection with the next sequence number: a copy of the last message to the member, renumbered.
    const toMember = data.filter((message) => message.subject === data[0].subject)
    const last = toMember[toMember.length - 1]
    const injected = last.data.slice()
    new DataView(injected.buffer).setUint32(5, sequenceOf(last.data) + 1)
    third.publish(last.subject, injected)
    await third.flush()
    // The channel is intact: the next call works, and the member ran only the calls the client made.
    expect(await within(5000, client.rpc('echo', 'after'), 'a call after the attack')).toBe('after')
    expect(await client.rpc('calls')).toBe(6)
    expect(client.connected).toBe(true)
  })

  it('makes a replay end the channel loudly when there is no secret', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.open')
    const member = await startMember(url)
    const third = await thirdClient(broker)
    const { seen, stop } = await spy(third)
    const client = newClient(url)
    expect(await within(5000, client.rpc('echo', 1), 'a call')).toBe(1)
    await stop()
    const disconnected = new Promise<Error | undefined>((resolve) => client.once('disconnect', resolve))
    // The client's hello, replayed to the member.
    const replayed = seen.find((message) => message.data[0] === 1 && Buffer.from(message.data).includes('client'))!
    third.publish(replayed.subject, replayed.data)
    await within(5000, disconnected, 'the end of the channel')
    const report = await nextMessage(member.fixture, ['channel-error', 'server-error'])
    expect(report.error).toMatchObject({ name: 'ProtocolError', message: expect.stringMatching(/twice or out of order/) })
  })

  it('refuses a wrong or a one-sided secret at once with AuthenticationError', async () => {
    const broker = await startBroker()
    const guarded = broker.url('svc.secret')
    const open = broker.url('svc.nosecret')
    await Promise.all([startMember(guarded, { secret: 'right' }), startMember(open)])
    const attempts = [connect(guarded, { secret: 'wrong' }), connect(guarded), connect(open, { secret: 'right' })].map((attempt) =>
      attempt.then(
        () => undefined,
        (error: unknown) => error,
      ),
    )
    const errors = await within(3000, Promise.all(attempts), 'three refused connections')
    for (const error of errors) expect(error).toBeInstanceOf(AuthenticationError)
    expect((errors[0] as Error).message).toMatch(/failed to prove the secret/)
    expect((errors[1] as Error).message).toMatch(/requires a secret/)
    expect((errors[2] as Error).message).toMatch(/does not authenticate/)
  })

  it('answers a malformed connect request with an error and goes on serving', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.junk')
    await startMember(url)
    const third = await thirdClient(broker)
    for (const junk of ['not json', '{"v":1}', '{"v":1,"subject":"elsewhere.>"}', 'x'.repeat(5000)]) {
      const reply = await within(3000, third.request('svc.junk', new TextEncoder().encode(junk), { timeout: 3000 }), 'a reply')
      expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ v: 1, error: 'malformed connect request' })
    }
    const client = newClient(url)
    expect(await within(5000, client.rpc('echo', 'fine'), 'a call')).toBe('fine')
  })

  it('ends a channel whose first frame announces more than the handshake allows, from its length prefix', async () => {
    const broker = await startBroker()
    const url = broker.url('svc.prefix')
    const member = await startMember(url)
    const third = await thirdClient(broker)
    const subject = '_ipc.AAAAAAAAAAAAAAAAAAAAAA'
    const statuses: Msg[] = []
    third.subscribe(subject, { callback: (_error, message) => statuses.push(message) })
    await third.flush()
    const reply = await third.request('svc.prefix', new TextEncoder().encode(JSON.stringify({ v: 1, subject })))
    const memberSubject = (JSON.parse(new TextDecoder().decode(reply.data)) as { subject: string }).subject
    // Sequence 0, then a length prefix of 2 GiB and a few bytes of it: nothing more is ever sent.
    const message = new Uint8Array(9 + 4 + 16)
    message[0] = 1
    new DataView(message.buffer).setUint32(9, 0x7fffffff)
    third.publish(memberSubject, message, { reply: subject })
    const report = await nextMessage(member.fixture, ['server-error', 'channel-error'])
    expect(report.error).toMatchObject({ name: 'ProtocolError' })
    // The member's channel subject is gone: a probe brings back the broker's "no responders".
    const probe = new Uint8Array(9)
    probe[0] = 2
    const gone = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (statuses.some((status) => status.headers?.code === 503)) {
          clearInterval(check)
          resolve()
        } else third.publish(memberSubject, probe, { reply: subject })
      }, 50)
      onTestFinished(() => clearInterval(check))
    })
    await within(3000, gone, "the end of the member's subject")
  })
})
