/**
 * TCP and TLS links: a server process (test/fixtures/link-net-server.mjs) on 127.0.0.1 with an
 * ephemeral port, a Client in the test process; the common scenarios over each, bad certificates
 * refused, and mutual TLS.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import type { ConnectionOptions } from 'node:tls'
import { ChannelClosedError } from '../../../dist/index.js'
import { spawnFixture } from '../../helpers/processes.js'
import { outcome } from '../../helpers/outcome.js'
import { connectClient, newClient, nextMessage } from '../support.js'
import { DEADLINE_MS, coreScenarios, within } from './scenarios.js'

const tlsFile = (name: string): Buffer => readFileSync(new URL(`../../fixtures/tls/${name}`, import.meta.url))

interface NetServerOptions {
  secret?: string
  tls?: { key: string; cert: string; ca?: string; requestCert?: boolean; rejectUnauthorized?: boolean }
}

/** Starts the fixture server on an ephemeral port; resolves to its tcp:// address. */
async function startNetServer(options: NetServerOptions = {}) {
  const fixture = spawnFixture('link-net-server.mjs', ['tcp://127.0.0.1:0', JSON.stringify(options)])
  const { address } = await within(DEADLINE_MS * 2, nextMessage<{ type: string; address: string }>(fixture, 'listening'), 'listening')
  return { fixture, address }
}

const serverTls = { key: 'server.key', cert: 'server.crt' }
const trustCa: ConnectionOptions = { ca: tlsFile('ca.crt') }

/** Settles `ready()` of a client and returns the rejection, failing the test if it connected. */
async function refused(address: string, tls: ConnectionOptions): Promise<Error & { code?: string }> {
  const client = newClient(address, { tls })
  const result = await within(DEADLINE_MS, outcome(client.ready()), 'ready()')
  expect(result.status).toBe('rejected')
  return (result as { reason: Error & { code?: string } }).reason
}

describe('TCP', () => {
  coreScenarios(async () => {
    const { address } = await startNetServer({ secret: 'tcp' })
    expect(address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    return connectClient(address, { secret: 'tcp' })
  })
})

describe('TLS', () => {
  coreScenarios(async () => {
    const { address } = await startNetServer({ tls: serverTls })
    return connectClient(address, { tls: trustCa })
  })

  test('a server certificate the client does not trust is refused', async () => {
    const { address } = await startNetServer({ tls: { key: 'untrusted.key', cert: 'untrusted.crt' } })
    const error = await refused(address, trustCa)
    expect(error.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/)
  })

  test('a server certificate signed by the CA but not trusted by default is refused without the ca option', async () => {
    const { address } = await startNetServer({ tls: serverTls })
    const error = await refused(address, {})
    expect(error.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/)
  })
})

describe('mutual TLS', () => {
  const mutual: NetServerOptions = { tls: { ...serverTls, ca: 'ca.crt', requestCert: true, rejectUnauthorized: true } }
  const clientCert: ConnectionOptions = { ...trustCa, key: tlsFile('client.key'), cert: tlsFile('client.crt') }

  test('a client with a certificate signed by the CA connects and calls', async () => {
    const { address } = await startNetServer(mutual)
    const client = await connectClient(address, { tls: clientCert })
    expect(await within(DEADLINE_MS, client.rpc('add', 1, 2), 'add')).toBe(3)
  })

  test('a client without a certificate is refused', async () => {
    const { address } = await startNetServer(mutual)
    const client = newClient(address, { tls: trustCa })
    // TLS 1.3 completes the client's side of the handshake before the server checks its certificate,
    // so the refusal may come as a TLS alert during the channel handshake instead of a failed connect.
    const result = await within(DEADLINE_MS, outcome(client.ready().then(() => client.rpc('add', 1, 1))), 'the first call')
    expect(result.status).toBe('rejected')
    const error = (result as { reason: Error & { code?: string } }).reason
    expect(error instanceof ChannelClosedError || /CERT|ALERT|ECONNRESET/.test(String(error.code))).toBe(true)
  })

  test('a client with an untrusted certificate is refused', async () => {
    const { address, fixture } = await startNetServer(mutual)
    const client = newClient(address, { tls: { ...trustCa, key: tlsFile('untrusted.key'), cert: tlsFile('untrusted.crt') } })
    const result = await within(DEADLINE_MS, outcome(client.ready().then(() => client.rpc('add', 1, 1))), 'the first call')
    expect(result.status).toBe('rejected')
    // The server drops the TLS connection; Node reports it to the server as a client error (with TLS
    // 1.3 only as a hang-up: the alert carries no more detail to either side).
    const serverError = await within(
      DEADLINE_MS,
      nextMessage<{ type: string; code?: string; message: string }>(fixture, 'server-error'),
      'the server error',
    )
    expect(serverError.code).toMatch(/CERT|ECONNRESET|ERR_SSL/)
  })
})
