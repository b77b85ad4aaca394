/**
 * Reaching the broker: TLS to it (mutual, with the test CA) and user/password credentials, through
 * the `nats` option; a broker that refuses the credentials is an AuthenticationError, not a retry.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { AuthenticationError, connect } from '../../../dist/index.js'
import { natsServerPath, startBroker } from '../../helpers/nats-broker.js'
import { fixturesDir } from '../../helpers/processes.js'
import { listenHere, newClient, within } from '../support.js'

const tlsDir = join(fixturesDir, 'tls')

describe.skipIf(!natsServerPath)('NATS: the broker connection', () => {
  it('runs over TLS to the broker, with client certificates', async () => {
    const broker = await startBroker([
      '--tlsverify',
      '--tlscert',
      join(tlsDir, 'server.crt'),
      '--tlskey',
      join(tlsDir, 'server.key'),
      '--tlscacert',
      join(tlsDir, 'ca.crt'),
    ])
    const url = broker.url('svc.tls')
    const tls = {
      ca: readFileSync(join(tlsDir, 'ca.crt')),
      cert: readFileSync(join(tlsDir, 'client.crt')),
      key: readFileSync(join(tlsDir, 'client.key')),
    }
    const server = await listenHere(url, { nats: { tls } })
    server.expose('echo', (value: unknown) => value)
    const client = newClient(url, { nats: { tls } })
    expect(await within(5000, client.rpc('echo', 'over tls'), 'a call')).toBe('over tls')
    // Without the CA the broker's certificate is not trusted: the attempt fails, it does not hang.
    const untrusted = await within(
      5000,
      connect(url, { nats: { tls: { cert: tls.cert, key: tls.key } } }).then(
        () => undefined,
        (error: unknown) => error,
      ),
      'a connection without the CA',
    )
    expect(untrusted).toBeInstanceOf(Error)
  })

  it('passes credentials, and a refusal is an AuthenticationError', async () => {
    const broker = await startBroker(['--user', 'app', '--pass', 'right'])
    const url = broker.url('svc.creds')
    const server = await listenHere(url, { nats: { user: 'app', pass: 'right' } })
    server.expose('echo', (value: unknown) => value)
    const client = newClient(url, { nats: { user: 'app', pass: 'right' } })
    expect(await within(5000, client.rpc('echo', 'let in'), 'a call')).toBe('let in')
    const refused = await within(
      5000,
      connect(url, { nats: { user: 'app', pass: 'wrong' }, reconnect: true }).then(
        () => undefined,
        (error: unknown) => error,
      ),
      'a connection with a wrong password',
    )
    expect(refused).toBeInstanceOf(AuthenticationError)
    expect((refused as Error).message).toMatch(/refused the credentials/)
  })
})
