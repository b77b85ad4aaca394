/**
 * The `ipc-channel` command against a real server process: every command and flag, exit codes, what
 * goes to stdout and what to stderr, secrets from the environment and from a file.
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { repositoryRoot, spawnFixture, tempDir, tempSocket, within } from '../../helpers/processes.js'

const CLI = join(repositoryRoot, 'dist', 'node', 'cli.js')
const SECRET = 'cli-test-secret'

interface Run {
  code: number | string
  stdout: string
  stderr: string
}

/** Runs the command to its exit (at most 15 s) with `env` added to the environment. */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<Run>((resolve) => child.once('close', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', stdout, stderr })))
  return within(15_000, exited, `ipc-channel ${args.join(' ')}`)
}

interface ServerOptions {
  secret?: string
  introspection?: boolean
  /** File names in test/fixtures/tls/, and mutual TLS. */
  tls?: { key: string; cert: string; ca?: string; requestCert?: boolean; rejectUnauthorized?: boolean }
}

/** A server process on a fresh socket (or `address`); resolves with its bound address once it listens. */
async function startServer(options: ServerOptions = {}, address = tempSocket('cli.sock')): Promise<string> {
  const server = spawnFixture('cli-server.mjs', [address, JSON.stringify(options)])
  const listening = await within(10_000, server.message<{ address: string }>(), 'the server listening')
  return listening.address
}

const tlsFile = (name: string): string => join(repositoryRoot, 'test', 'fixtures', 'tls', name)

const withSecret = { IPC_TEST_SECRET: SECRET }
const secretFlags = ['--secret-env', 'IPC_TEST_SECRET']

describe('help and usage', () => {
  test('--help prints the usage of the tool and of each command on stdout, exit 0', async () => {
    for (const [args, heading] of [
      [['--help'], 'Usage: ipc-channel <command>'],
      [['-h'], 'Usage: ipc-channel <command>'],
      [['list', '--help'], 'Usage: ipc-channel list ADDRESS'],
      [['call', '--help'], 'Usage: ipc-channel call ADDRESS METHOD'],
      [['ping', '--help'], 'Usage: ipc-channel ping ADDRESS'],
    ] as const) {
      const { code, stdout, stderr } = await run([...args])
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
      expect(stdout).toContain(heading)
      expect(stdout).toContain('--ca FILE')
    }
  })

  test.each([
    [[], 'a command is needed'],
    [['frobnicate', 'x'], 'unknown command "frobnicate"'],
    [['list'], 'list needs an ADDRESS'],
    [['call', 'x'], 'call needs a METHOD'],
    [['ping', 'x', 'y'], 'unexpected "y"'],
    [['list', 'x', '--bogus'], "Unknown option '--bogus'"],
    [['list', 'x', '--timeout', 'soon'], '--timeout takes a whole number'],
    [['call', 'x', 'm', '--count', '2'], '--count applies to ping only'],
    [['list', 'x', '--secret', 'hunter2'], '--secret is not accepted'],
    [['list', 'x', '--secret=hunter2'], '--secret is not accepted'],
    [['list', 'x', '--secret-env', 'IPC_TEST_UNSET_VARIABLE'], 'IPC_TEST_UNSET_VARIABLE: the environment variable is not set'],
    [['list', 'x', '--secret-file', '/nonexistent/secret'], '--secret-file /nonexistent/secret: ENOENT'],
    [['list', '/tmp/x.sock', '--ca', tlsFile('ca.crt')], '--ca: TLS needs a tcp://HOST:PORT address, not "/tmp/x.sock"'],
    [['ping', 'demo', '--servername', 'localhost'], '--servername: TLS needs a tcp://HOST:PORT address, not "demo"'],
    [['list', 'tcp://127.0.0.1:1', '--cert', tlsFile('client.crt')], '--cert and --key go together'],
    [['list', 'tcp://127.0.0.1:1', '--key', tlsFile('client.key')], '--cert and --key go together'],
    [['list', 'tcp://127.0.0.1:1', '--ca', '/nonexistent/ca.crt'], '--ca /nonexistent/ca.crt: ENOENT'],
    [['list', 'x.sock', '--tls'], '--tls: TLS needs a tcp://HOST:PORT address, not "x.sock"'],
    [['list', 'tcp://127.0.0.1:1', '--ca', tlsFile('README.md')], `--ca ${tlsFile('README.md')}: no PEM certificate in the file`],
    [['list', 'tcp://127.0.0.1:1', '--cert', tlsFile('README.md'), '--key', tlsFile('client.key')], `--cert ${tlsFile('README.md')} --key`],
    [['list', 'tcp://127.0.0.1:1', '--cert', tlsFile('client.crt'), '--key', tlsFile('server.key')], 'key values mismatch'],
    [['list', 'tcp://127.0.0.1:1', '--servername', ''], '--servername needs a name'],
  ])('%j is a usage error: exit 2, the reason on stderr, nothing on stdout', async (args, reason) => {
    const { code, stdout, stderr } = await run(args)
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' })
    expect(stderr).toContain(reason)
    expect(stderr).toContain('ipc-channel --help')
  })
})

describe('against a server process', () => {
  test('list: one name per line with its description; --json: what describe() returns', async () => {
    const address = await startServer({ secret: SECRET })
    const plain = await run(['list', address, ...secretFlags], withSecret)
    expect({ code: plain.code, stderr: plain.stderr }).toEqual({ code: 0, stderr: '' })
    expect(plain.stdout.split('\n')).toEqual([
      'add  adds two numbers',
      'greet  greets someone',
      'echo',
      'bytes',
      'nothing',
      'fail',
      'count (stream)',
      'work',
      'hang',
      '',
    ])
    const json = await run(['list', address, ...secretFlags, '--json'], withSecret)
    expect(json.code).toBe(0)
    const entries = JSON.parse(json.stdout) as { name: string }[]
    expect(entries).toContainEqual({ name: 'add', description: 'adds two numbers', parameters: 2 })
    expect(entries).toContainEqual({ name: 'count', stream: true, parameters: 1 })
    expect(entries).toContainEqual({ name: 'work', context: true, parameters: 1 })
  })

  test('call: JSON arguments, bare words as strings, the result as one JSON line', async () => {
    const address = await startServer({ secret: SECRET })
    const calls: [string[], string][] = [
      [['add', '1', '2'], '3\n'],
      [['greet', 'world'], '"hello, world"\n'],
      [['echo', '{"a":[1,true,null]}'], '{"a":[1,true,null]}\n'],
      [['echo', '"42"'], '"42"\n'],
      [['bytes'], '{"$binary":"AQID+g=="}\n'],
      [['nothing'], 'null\n'],
    ]
    for (const [args, output] of calls) {
      const { code, stdout, stderr } = await run(['call', address, ...args, ...secretFlags], withSecret)
      expect({ args, code, stdout, stderr }).toEqual({ args, code: 0, stdout: output, stderr: '' })
    }
  })

  test('call: a streaming result prints one line per item; progress goes to stderr', async () => {
    const address = await startServer({ secret: SECRET })
    const stream = await run(['call', address, 'count', '3', ...secretFlags], withSecret)
    expect(stream).toEqual({ code: 0, stdout: '{"i":1}\n{"i":2}\n{"i":3}\n', stderr: '' })
    const progress = await run(['call', address, 'work', '2', ...secretFlags], withSecret)
    expect(progress).toEqual({ code: 0, stdout: '"done"\n', stderr: 'progress: {"step":1}\nprogress: {"step":2}\n' })
  })

  test('call: a remote error prints its class, message, code and cause on stderr, exit 1', async () => {
    const address = await startServer({ secret: SECRET })
    const plain = await run(['call', address, 'fail', ...secretFlags], withSecret)
    expect(plain).toEqual({
      code: 1,
      stdout: '',
      stderr: 'TypeError: not a port number: "x" [E_BAD_PORT]\n  caused by: RangeError: NaN is not in 1..65535\n',
    })
    const json = await run(['call', address, 'fail', ...secretFlags, '--json'], withSecret)
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stderr)).toEqual({
      error: {
        name: 'TypeError',
        message: 'not a port number: "x"',
        code: 'E_BAD_PORT',
        cause: { name: 'RangeError', message: 'NaN is not in 1..65535' },
      },
    })
    const missing = await run(['call', address, 'ecoh', ...secretFlags], withSecret)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^MethodNotFoundError: method not found: "ecoh".* \[ERR_METHOD_NOT_FOUND\]\n$/)
  })

  test('call --timeout: a call that takes longer fails with TimeoutError, exit 1', async () => {
    const address = await startServer({ secret: SECRET })
    const { code, stdout, stderr } = await run(['call', address, 'hang', ...secretFlags, '--timeout', '300'], withSecret)
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' })
    expect(stderr).toMatch(/^TimeoutError: .*300 ms/)
  })

  test('the secret from a file; a wrong secret or none is an AuthenticationError, exit 1', async () => {
    const address = await startServer({ secret: SECRET })
    const dir = tempDir()
    const good = join(dir, 'good')
    const bad = join(dir, 'bad')
    writeFileSync(good, `${SECRET}\n`, { mode: 0o600 })
    writeFileSync(bad, 'not-the-secret', { mode: 0o600 })
    expect(await run(['call', address, 'add', '2', '3', '--secret-file', good])).toEqual({ code: 0, stdout: '5\n', stderr: '' })
    for (const flags of [['--secret-file', bad], []]) {
      const { code, stdout, stderr } = await run(['list', address, ...flags])
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' })
      expect(stderr).toMatch(new RegExp(`^ipc-channel: cannot connect to ${address.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: AuthenticationError: `))
    }
  })

  test('ping: a line per round trip, --count of them; --json as JSON lines', async () => {
    const address = await startServer()
    const plain = await run(['ping', address, '--count', '2'])
    expect({ code: plain.code, stderr: plain.stderr }).toEqual({ code: 0, stderr: '' })
    const lines = plain.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    lines.forEach((line, index) => expect(line).toMatch(new RegExp(`^pong from .*: seq=${index + 1} time=\\d+\\.\\d{3} ms$`)))
    const json = await run(['ping', address, '--count', '3', '--json'])
    expect(json.code).toBe(0)
    const pongs = json.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; ms: number })
    expect(pongs.map(({ seq }) => seq)).toEqual([1, 2, 3])
    for (const { ms } of pongs) expect(ms).toBeGreaterThan(0)
  })

  test('list against a server with introspection off fails with MethodNotFoundError, exit 1; call still works', async () => {
    const address = await startServer({ introspection: false })
    const { code, stdout, stderr } = await run(['list', address])
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' })
    expect(stderr).toContain('MethodNotFoundError: the peer does not answer describe()')
    expect(await run(['call', address, 'add', '1', '1'])).toEqual({ code: 0, stdout: '2\n', stderr: '' })
  })

  test('a bare name is an ipcPath name', async () => {
    const name = `cli-test-${process.pid}-${Date.now()}`
    await startServer({}, `ipc:${name}`)
    expect(await run(['call', name, 'add', '20', '22'])).toEqual({ code: 0, stdout: '42\n', stderr: '' })
  })

  test('nothing listening: cannot connect, exit 1', async () => {
    const { code, stdout, stderr } = await run(['ping', tempSocket('nobody.sock')])
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' })
    expect(stderr).toMatch(/^ipc-channel: cannot connect to .*nobody\.sock: /)
  })
})

describe('TLS on a tcp:// address', () => {
  const serverTls = { key: 'server.key', cert: 'server.crt' }
  const ca = ['--ca', tlsFile('ca.crt')]

  test('--ca trusts the CA of the server certificate; without it the certificate is refused, exit 1', async () => {
    const address = await startServer({ tls: serverTls }, 'tcp://127.0.0.1:0')
    expect(address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    expect(await run(['call', address, 'add', '1', '2', ...ca])).toEqual({ code: 0, stdout: '3\n', stderr: '' })
    const list = await run(['list', address, ...ca])
    expect({ code: list.code, stderr: list.stderr }).toEqual({ code: 0, stderr: '' })
    expect(list.stdout).toContain('add  adds two numbers\n')
    // --tls trusts Node's built-in CAs only, which did not sign the test certificate.
    const untrusted = await run(['call', address, 'add', '1', '2', '--tls'])
    expect({ code: untrusted.code, stdout: untrusted.stdout }).toEqual({ code: 1, stdout: '' })
    expect(untrusted.stderr).toMatch(
      /^ipc-channel: cannot connect to tcp:\S+: Error: .*certificate.* \[(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\]\n {2}hint: --ca FILE .*\n$/,
    )
    const json = await run(['call', address, 'add', '1', '2', '--tls', '--json'])
    expect(json.code).toBe(1)
    expect(json.stderr).toMatch(/"code":"(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)"/)
    expect(json.stderr).not.toContain('hint')
    // Without any TLS flag the client speaks plain TCP, which the TLS server drops.
    const plain = await run(['call', address, 'add', '1', '2'])
    expect({ code: plain.code, stdout: plain.stdout }).toEqual({ code: 1, stdout: '' })
    expect(plain.stderr).toMatch(/^ipc-channel: cannot connect to tcp:\S+: .*\n {2}hint: if the server speaks TLS, give --tls or --ca FILE\n$/)
  })

  test('a self-signed server certificate is refused even with --ca, exit 1', async () => {
    const address = await startServer({ tls: { key: 'untrusted.key', cert: 'untrusted.crt' } }, 'tcp://127.0.0.1:0')
    const { code, stdout, stderr } = await run(['ping', address, '--count', '1', ...ca])
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' })
    expect(stderr).toMatch(/^ipc-channel: cannot connect to .*self-signed certificate.*\[DEPTH_ZERO_SELF_SIGNED_CERT\]/)
  })

  test('--servername: the name the certificate must hold, instead of the host', async () => {
    const address = await startServer({ tls: serverTls }, 'tcp://127.0.0.1:0')
    const good = await run(['ping', address, '--count', '1', ...ca, '--servername', 'localhost'])
    expect({ code: good.code, stderr: good.stderr }).toEqual({ code: 0, stderr: '' })
    const wrong = await run(['ping', address, '--count', '1', ...ca, '--servername', 'elsewhere.example'])
    expect({ code: wrong.code, stdout: wrong.stdout }).toEqual({ code: 1, stdout: '' })
    expect(wrong.stderr).toMatch(/elsewhere\.example.*\[ERR_TLS_CERT_ALTNAME_INVALID\]\n {2}hint: --servername/)
  })

  test('mutual TLS: --cert and --key present a client certificate; without them the server refuses, exit 1', async () => {
    const address = await startServer(
      { secret: SECRET, tls: { ...serverTls, ca: 'ca.crt', requestCert: true, rejectUnauthorized: true } },
      'tcp://127.0.0.1:0',
    )
    const client = ['--cert', tlsFile('client.crt'), '--key', tlsFile('client.key')]
    expect(await run(['call', address, 'greet', 'tls', ...ca, ...client, ...secretFlags], withSecret)).toEqual({
      code: 0,
      stdout: '"hello, tls"\n',
      stderr: '',
    })
    const refused = await run(['call', address, 'greet', 'tls', ...ca, ...secretFlags], withSecret)
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 1, stdout: '' })
    // TLS 1.3 lets the client finish its side first: the refusal is an alert that ends the connection.
    expect(refused.stderr).toMatch(
      /^ipc-channel: cannot connect to .*(certificate required.* \[ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\]\n {2}hint: .* --cert FILE --key FILE\n$|ECONNRESET)/,
    )
  })

  test('without a TLS flag a tcp:// address is plain TCP', async () => {
    const address = await startServer({}, 'tcp://127.0.0.1:0')
    expect(await run(['call', address, 'add', '2', '2'])).toEqual({ code: 0, stdout: '4\n', stderr: '' })
  })
})
