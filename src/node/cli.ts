#!/usr/bin/env node
/**
 * The `ipc-channel` command: lists what a running endpoint exposes, calls it, and pings it, at any
 * address the library accepts. Parsing and dispatch live here; what is printed, in cli-output.ts.
 * Exit codes: 0 success, 1 the call or the connection failed, 2 a usage error.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { MethodDescription } from '../protocol/introspection.js'
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

A secret is never taken on the command line, where other users can read it (ps).`,
  list: `Usage: ipc-channel list ADDRESS [options]

Prints the names the endpoint exposes, one per line, each followed by its description when it has
one. With --json, prints the array describe() returns. Fails (exit 1) when the endpoint runs with
introspection: false.

Options: --secret-env NAME, --secret-file PATH, --timeout MS (default 10000), --json`,
  call: `Usage: ipc-channel call ADDRESS METHOD [ARG...] [options]

Calls METHOD with the ARGs and prints the result as one line of JSON. Each ARG is JSON; an ARG that is
not valid JSON is taken as a string (so: call demo greet world). A streaming result prints one line
per item as the items arrive. Progress values go to stderr. A remote error prints its class, message,
code and cause to stderr and exits 1. Ctrl-C cancels the call. Binary values print as
{"$binary": base64}, BigInts as strings, Maps as arrays of pairs, Sets as arrays.

Options: --secret-env NAME, --secret-file PATH, --timeout MS (default: none), --json (errors on
stderr as JSON too)`,
  ping: `Usage: ipc-channel ping ADDRESS [--count N] [options]

Connects, then sends N pings (default 4) and prints each round trip; exits 0 when the endpoint
answered them all. Every endpoint answers pings, whatever it exposes.

Options: --count N, --secret-env NAME, --secret-file PATH, --timeout MS (default 10000), --json`,
}

/** A mistake on the command line: exit code 2, with a pointer to the help. */
class UsageError extends Error {}

interface Common {
  readonly address: string
  readonly secret: string | undefined
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
      handshakeTimeout: common.timeout ?? 10_000,
      heartbeat: false,
    })
  } catch (error) {
    process.stderr.write(`ipc-channel: cannot connect to ${common.address}: ${describeError(error, common.json)}\n`)
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
  const common: Common = { address, secret: readSecret(values['secret-env'], values['secret-file']), timeout, json: values.json }
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
