import { lstatSync, mkdirSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Longest Unix socket path, in bytes, including the terminating NUL the kernel wants. */
const SUN_PATH_MAX: Partial<Record<NodeJS.Platform, number>> = { darwin: 104, freebsd: 104, openbsd: 104, linux: 108 }

/**
 * The longest Unix socket path on `platform`, in bytes, without the terminating NUL. Node does not
 * refuse a longer one: it binds to the path cut at that length.
 */
export function socketPathLimit(platform: NodeJS.Platform = process.platform): number {
  return (SUN_PATH_MAX[platform] ?? 104) - 1
}

const PIPE_PREFIX = /^\\\\[.?]\\pipe\\/i

/** Where an address leads. */
export type ResolvedAddress =
  | { kind: 'unix'; path: string }
  | { kind: 'pipe'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'nats'; host: string; port: number; service: string }

/** A NATS service name: dot-separated subject tokens, without wildcards or the `_ipc` prefix of channel subjects. */
const SERVICE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

/**
 * Interprets an address string for `platform`:
 * - `tcp://host:port` is TCP (`[::1]` brackets accepted);
 * - `nats://host:port/service` is the service `service` (a dotted subject such as `svc.echo`) on the
 *   NATS broker at host:port (port 4222 when left out);
 * - `\\.\pipe\name` (or `\\?\pipe\name`) is a Windows named pipe;
 * - on Windows any other string is mapped to a pipe: `\\.\pipe\` followed by the string with slashes
 *   and backslashes turned into `-` (drive colons dropped), so a Unix-style path still works there;
 * - elsewhere it is a Unix domain socket path.
 */
export function resolveAddress(address: string, platform: NodeJS.Platform = process.platform): ResolvedAddress {
  if (typeof address !== 'string' || address.length === 0) throw new TypeError('address must be a non-empty string')
  if (address.startsWith('tcp://')) {
    const match = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(address)
    if (!match) throw new TypeError(`invalid tcp address ${JSON.stringify(address)}: expected tcp://host:port`)
    const port = Number(match[2])
    if (port > 65535) throw new TypeError(`invalid tcp port in ${JSON.stringify(address)}`)
    return { kind: 'tcp', host: match[1].replace(/^\[|\]$/g, ''), port }
  }
  if (address.startsWith('nats://')) return resolveNats(address)
  if (PIPE_PREFIX.test(address)) return { kind: 'pipe', path: address }
  if (platform === 'win32') {
    const name = address
      .replace(/^[a-z]:/i, '')
      .replace(/[\\/]+/g, '-')
      .replace(/^-+/, '')
    if (name.length === 0) throw new TypeError(`address ${JSON.stringify(address)} does not name a pipe`)
    return { kind: 'pipe', path: `\\\\.\\pipe\\${name}` }
  }
  return { kind: 'unix', path: address }
}

function resolveNats(address: string): ResolvedAddress {
  const match = /^nats:\/\/(\[[^\]]+\]|[^:/@]+)(?::(\d{1,5}))?\/([^/?#]+)$/.exec(address)
  if (!match) {
    const hint = address.includes('@') ? ' (broker credentials go in the nats option, not the address)' : ''
    throw new TypeError(`invalid nats address ${JSON.stringify(address)}: expected nats://host:port/service${hint}`)
  }
  const port = match[2] === undefined ? 4222 : Number(match[2])
  if (port > 65535) throw new TypeError(`invalid nats port in ${JSON.stringify(address)}`)
  const service = match[3]
  if (!SERVICE.test(service) || service === '_ipc' || service.startsWith('_ipc.')) {
    throw new TypeError(
      `invalid NATS service ${JSON.stringify(service)} in ${JSON.stringify(address)}: use dot-separated tokens of letters, digits, '_' and '-' (no wildcards; _ipc is reserved)`,
    )
  }
  return { kind: 'nats', host: match[1].replace(/^\[|\]$/g, ''), port, service }
}

/**
 * The address to use for a private local endpoint called `name` on this platform: a named pipe on
 * Windows; elsewhere a socket in a per-user directory of mode 0700, created if needed, kept within the
 * platform's socket path limit (falling back to `/tmp` when the temporary directory's path is long).
 * @throws TypeError for a name that is not 1-64 letters, digits, `_`, `.` or `-`.
 * @throws RangeError when the socket path would be longer than the platform allows.
 * @throws Error when the directory exists but belongs to another user or is not a directory (a link).
 */
export function ipcPath(name: string, platform: NodeJS.Platform = process.platform): string {
  if (!/^[\w.-]{1,64}$/.test(name)) {
    throw new TypeError(`ipcPath name must be 1-64 characters of letters, digits, '_', '.', '-': ${JSON.stringify(name)}`)
  }
  if (platform === 'win32') return `\\\\.\\pipe\\ipc-channel-${userTag()}-${name}`
  const limit = socketPathLimit(platform)
  const dirName = `ipc-channel-${userTag()}`
  let dir = join(tmpdir(), dirName)
  if (Buffer.byteLength(join(dir, `${name}.sock`)) > limit) dir = join('/tmp', dirName)
  const path = join(dir, `${name}.sock`)
  if (Buffer.byteLength(path) > limit) {
    throw new RangeError(`socket path ${JSON.stringify(path)} is longer than ${limit} bytes; use a shorter name`)
  }
  ensurePrivateDirectory(dir)
  return path
}

function userTag(): string {
  return typeof process.getuid === 'function' ? String(process.getuid()) : (process.env.USERNAME ?? 'user').replace(/[^\w.-]/g, '_')
}

/** Creates `dir` with mode 0700, or checks that an existing one is ours, not a link, and private. */
function ensurePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stats = lstatSync(dir)
  if (!stats.isDirectory()) throw new Error(`${dir} exists and is not a directory`)
  if (typeof process.getuid === 'function' && stats.uid !== process.getuid()) {
    throw new Error(`${dir} belongs to another user (uid ${stats.uid}); refusing to place sockets there`)
  }
  if ((stats.mode & 0o777) !== 0o700) chmodSync(dir, 0o700)
}
