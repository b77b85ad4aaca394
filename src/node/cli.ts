#!/usr/bin/env node
/**
 * The `ipc-channel` command: lists what a running endpoint exposes, calls it, and pings it, at any
 * address the library accepts. Parsing and dispatch live here; what is printed, in cli-output.ts.
 * Exit codes: 0 success, 1 the call or the connection failed, 2 a usage error.
 */
import { readFileSync } from 'node:fs'
import { createSecureContext, type ConnectionOptions } from 'node:tls'
import { parseArgs } from 'node:util'
import type { MethodDescription } from '../protocol/introspection.js'
import { ChannelClosedError } from '../core/errors.js'
import { connect, type Client } from './client.js'
import { ipcPath } from './ipc-path.js'
import { describeError, formatDescriptions, jsonLine, parseArgument } from './cli-output.js'

const HELP: Record<string, string> = {
  main: `Usage: ipc-channel <command> ADDRESS [...] [options]

Talks to a running ipc-channel endpoint (a Server, or anything that accepts connections).

Commands:
  list ADDRESS                 the functions the endpoint exposes, one per line
  call ADDRESS METHOD [ARG...]  calls METHOD and prints its result as JSON
  ping ADDRESS                 measures round trips to the endpoint

ADDRESS is a socket path, a Windows pipe name (\\\\.\\pipe\\NAME), tcp://HOST:PORT, or a bare name such
as "demo", which stands for ipcPath("demo"). Write ./NAME for a socket file in this directory.

Options (every command):
  --secret-env NAME    read the shared secret from environment variable NAME
  --secret-file PATH   read the shared secret from a file (one trailing newline is dropped)
  --timeout MS         give up after MS milliseconds (the handshake, and each call)
  --json               machine-readable output
  -h, --help           this help, or a command's: ipc-channel call --help

TLS, for a tcp:// ADDRESS only (any of these turns TLS on; the server's certificate is always checked):
  --tls                TLS, trusting Node's built-in list of CAs
  --ca FILE            trust the CA certificates in FILE (PEM) instead of Node's built-in list
  --cert FILE          this side's certificate (PEM), for a server that asks for one (mutual TLS)
  --key FILE           the private key of --cert (PEM, not encrypted)
  --servername NAME    the name the server's certificate must hold, also sent to the server (SNI);
                       default: the host of ADDRESS

A secret is never taken on the command line, where other users can read it (ps); nor is key material:
the TLS flags take files.`,
  list: `Usage: ipc-channel list ADDRESS [options]

Prints the names the endpoint exposes, one per line, each followed by its description when it has
one. With --json, prints the array describe() returns. Fails (exit 1) when the endpoint runs with
introspection: false.

Options: --secret-env NAME, --secret-file PATH, --timeout MS (default 10000), --json
TLS (tcp:// only): --tls, --ca FILE, --cert FILE, --key FILE, --servername NAME`,
  call: `Usage: ipc-channel call ADDRESS METHOD [ARG...] [options]

Calls METHOD with the ARGs and prints the result as one line of JSON. Each ARG is JSON; an ARG that is
not valid JSON is taken as a string (so: call demo greet world). A streaming result prints one line
per item as the items arrive. Progress values go to stderr. A remote error prints its class, message,
code and cause to stderr and exits 1. Ctrl-C cancels the call. Binary values print as
{"$binary": base64}, BigInts as strings, Maps as arrays of pairs, Sets as arrays.

Options: --secret-env NAME, --secret-file PATH, --timeout MS (default: none), --json (errors on
stderr as JSON too)
TLS (tcp:// only): --tls, --ca FILE, --cert FILE, --key FILE, --servername NAME`,
  ping: `Usage: ipc-channel ping ADDRESS [--count N] [options]

Connects, then sends N pings (default 4) and prints each round trip; exits 0 when the endpoint
answered them all. Every endpoint answers pings, whatever it exposes.

Options: --count N, --secret-env NAME, --secret-file PATH, --timeout MS (default 10000), --json
TLS (tcp:// only): --tls, --ca FILE, --cert FILE, --key FILE, --servername NAME`,
}

/** A mistake on the command line: exit code 2, with a pointer to the help. */
class UsageError extends Error {}

interface Common {
  readonly address: string
  readonly secret: string | undefined
  /** Set when a TLS flag was given (the address is then a tcp:// one). */
  readonly tls: ConnectionOptions | undefined
  readonly timeout: number | undefined
  readonly json: boolean
}

/** Runs the command in `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let parsed
  try {
    parsed = parseCommandLine(argv)
  } catch (error) {
    if (!(error instanceof UsageError) && !isParseArgsError(error)) throw error
    process.stderr.write(`ipc-channel: ${(error as Error).message}\nRun ipc-channel --help for usage.\n`)
    return 2
  }
  if (parsed.help !== undefined) {
    process.stdout.write(`${HELP[parsed.help]}\n`)
    return 0
  }
  const { command, common, rest, count } = parsed
  let client: Client
  try {
    client = await connect(resolveTarget(common.address), {
      ...(common.secret === undefined ? undefined : { secret: common.secret }),
      ...(common.tls === undefined ? undefined : { tls: common.tls }),
      handshakeTimeout: common.timeout ?? 10_000,
      heartbeat: false,
    })
  } catch (error) {
    const hint = common.json ? undefined : connectHint(error, common)
    process.stderr.write(`ipc-channel: cannot connect to ${common.address}: ${describeError(error, common.json)}\n${hint ? `${hint}\n` : ''}`)
    return 1
  }
  client.on('error', () => {})
  try {
    if (command === 'list') return await list(client, common)
    if (command === 'ping') return await ping(client, common, count)
    return await call(client, common, rest[0]!, rest.slice(1))
  } finally {
    await client.close()
  }
}

function parseCommandLine(argv: readonly string[]) {
  if (argv.some((arg) => arg === '--secret' || arg.startsWith('--secret='))) {
    throw new UsageError(
      '--secret is not accepted: a secret on the command line is visible to other users; use --secret-env NAME or --secret-file PATH',
    )
  }
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      'secret-env': { type: 'string' },
      'secret-file': { type: 'string' },
      timeout: { type: 'string' },
      count: { type: 'string' },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      servername: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const [command, ...rest] = positionals
  if (values.help) return { help: command !== undefined && command in HELP ? command : 'main' } as const
  if (command === undefined) throw new UsageError('a command is needed: list, call or ping')
  if (command !== 'list' && command !== 'call' && command !== 'ping')
    throw new UsageError(`unknown command ${JSON.stringify(command)}: use list, call or ping`)
  const address = rest.shift()
  if (address === undefined) throw new UsageError(`${command} needs an ADDRESS`)
  if (command === 'call' && rest.length === 0) throw new UsageError('call needs a METHOD')
  if (command !== 'call' && rest.length > 0) throw new UsageError(`${command} takes one ADDRESS; unexpected ${JSON.stringify(rest[0])}`)
  if (values.count !== undefined && command !== 'ping') throw new UsageError('--count applies to ping only')
  const timeout = positiveInteger('--timeout', values.timeout)
  const count = positiveInteger('--count', values.count) ?? 4
  const secret = readSecret(values['secret-env'], values['secret-file'])
  const common: Common = { address, secret, tls: readTls(address, values), timeout, json: values.json }
  return { help: undefined, command, common, rest, count } as const
}

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`${flag} takes a whole number of at least 1, not ${JSON.stringify(text)}`)
  return value
}

function readSecret(variable: string | undefined, file: string | undefined): string | undefined {
  if (variable !== undefined && file !== undefined) throw new UsageError('give --secret-env or --secret-file, not both')
  if (variable !== undefined) {
    const secret = process.env[variable]
    if (!secret) throw new UsageError(`--secret-env ${variable}: the environment variable is not set or empty`)
    return secret
  }
  if (file === undefined) return undefined
  let secret: string
  try {
    secret = readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  } catch (error) {
    throw new UsageError(`--secret-file ${file}: ${(error as Error).message}`)
  }
  if (secret.length === 0) throw new UsageError(`--secret-file ${file}: the file is empty`)
  return secret
}

interface TlsFlags {
  readonly tls: boolean
  readonly ca?: string | undefined
  readonly cert?: string | undefined
  readonly key?: string | undefined
  readonly servername?: string | undefined
}

/** The TLS options the flags ask for, undefined when none was given; the files are checked here. */
function readTls(address: string, flags: TlsFlags): ConnectionOptions | undefined {
  const given = (['tls', 'ca', 'cert', 'key', 'servername'] as const).filter((flag) => flags[flag] !== undefined && flags[flag] !== false)
  if (given.length === 0) return undefined
  if (!address.startsWith('tcp://')) {
    throw new UsageError(`${given.map((flag) => `--${flag}`).join(', ')}: TLS needs a tcp://HOST:PORT address, not ${JSON.stringify(address)}`)
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new UsageError('--cert and --key go together (mutual TLS)')
  if (flags.servername === '') throw new UsageError('--servername needs a name')
  const tls: ConnectionOptions = {}
  if (flags.ca !== undefined) {
    const ca = readFile('--ca', flags.ca)
    // Node takes a file without a certificate in it as an empty list, which then trusts nothing.
    if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca ${flags.ca}: no PEM certificate in the file`)
    checkSecureContext(`--ca ${flags.ca}`, { ca })
    tls.ca = ca
  }
  if (flags.cert !== undefined) {
    const pair = { cert: readFile('--cert', flags.cert), key: readFile('--key', flags.key!) }
    checkSecureContext(`--cert ${flags.cert} --key ${flags.key!}`, pair)
    Object.assign(tls, pair)
  }
  if (flags.servername !== undefined) tls.servername = flags.servername
  return tls
}

/** Refuses now what Node would refuse only when connecting: not PEM, a key that does not match its certificate. */
function checkSecureContext(flags: string, options: ConnectionOptions): void {
  try {
    createSecureContext(options)
  } catch (error) {
    throw new UsageError(`${flags}: ${(error as Error).message}`)
  }
}

function readFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(`${flag} ${file}: ${(error as Error).message}`)
  }
}

/** The flag that may address a failure to connect, as a line for stderr. */
function connectHint(error: unknown, common: Common): string | undefined {
  // A TLS server drops a connection that does not start with TLS: the handshake sees it as lost.
  if (error instanceof ChannelClosedError && common.tls === undefined && common.address.startsWith('tcp://'))
    return '  hint: if the server speaks TLS, give --tls or --ca FILE'
  const code = (error as { code?: unknown } | undefined)?.code
  if (typeof code !== 'string') return undefined
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return '  hint: --servername NAME checks the certificate against another name'
  if (/SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|CERT_UNTRUSTED/.test(code))
    return "  hint: --ca FILE trusts the CA that signed the server's certificate"
  if (/ALERT_(CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE)/.test(code) && common.tls?.cert === undefined)
    return '  hint: the server may ask for a client certificate: give --cert FILE --key FILE'
  return undefined
}

/** A bare name (no separator, no scheme) is an ipcPath name; anything else is an address as given. */
function resolveTarget(address: string): string {
  return /^[\w.-]{1,64}$/.test(address) && !address.startsWith('.') ? ipcPath(address) : address
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  return error instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')
}

async function list(client: Client, common: Common): Promise<number> {
  let descriptions: MethodDescription[]
  try {
    descriptions = await client.describe().timeout(common.timeout ?? 10_000)
  } catch (error) {
    process.stderr.write(`ipc-channel: list ${common.address}: ${describeError(error, common.json)}\n`)
    return 1
  }
  process.stdout.write(common.json ? `${jsonLine(descriptions)}\n` : formatDescriptions(descriptions))
  return 0
}

async function ping(client: Client, common: Common, count: number): Promise<number> {
  for (let i = 1; i <= count; i++) {
    let ms: number
    try {
      ms = await withTimeout(client.ping(), common.timeout ?? 10_000)
    } catch (error) {
      process.stderr.write(`ipc-channel: ping ${common.address}: ${describeError(error, common.json)}\n`)
      return 1
    }
    process.stdout.write(common.json ? `${jsonLine({ seq: i, ms })}\n` : `pong from ${common.address}: seq=${i} time=${ms.toFixed(3)} ms\n`)
  }
  return 0
}

async function call(client: Client, common: Common, method: string, args: readonly string[]): Promise<number> {
  const call = client.call(method, args.map(parseArgument), common.timeout === undefined ? undefined : { timeout: common.timeout })
  void call.onProgress((value) => process.stderr.write(`progress: ${jsonLine(value)}\n`))
  const interrupt = (): void => call.abort(new Error('interrupted (SIGINT)'))
  process.once('SIGINT', interrupt)
  try {
    for await (const item of call) process.stdout.write(`${jsonLine(item)}\n`)
    return 0
  } catch (error) {
    process.stderr.write(`${describeError(error, common.json)}\n`)
    return 1
  } finally {
    process.off('SIGINT', interrupt)
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

process.exitCode = await main(process.argv.slice(2))
