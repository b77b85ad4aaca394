/**
 * Socket files: binding a Unix socket so that a file appears at its path only once it is live and never
 * over another server's, removing stale files without a window in which a live one could go instead,
 * and the paths this process's servers hold.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, linkSync, lstatSync, realpathSync, renameSync, unlinkSync, type BigIntStats } from 'node:fs'
import { connect as netConnect, type Server as NetServer } from 'node:net'
import { constants as osConstants } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { ChannelClosedError } from '../core/errors.js'
import type { ResolvedAddress } from './ipc-path.js'

/**
 * The socket paths that servers of this process hold or are binding, by {@link pathKey}: a second
 * listen() on one fails at once with EADDRINUSE, whatever the timing of the two calls, unless the
 * holder's file has been removed or replaced since.
 */
export const claimedPaths = new Map<string, object>()

/** One key for every spelling of a path: absolute, with the directory's symbolic links resolved. */
export function pathKey(path: string): string {
  const absolute = resolve(path)
  try {
    return join(realpathSync.native(dirname(absolute)), basename(absolute))
  } catch {
    return absolute
  }
}

/**
 * Removes the stale socket file `stale` from `path`, never a live one: between the probe that found it
 * stale and its removal, another server may have replaced it with its own. The file at `path` is moved
 * aside (rename() is atomic); if it is not the file that was probed, it is moved back at once. If it is
 * (same device and inode), it is probed again under its new name, in case a new socket took over a
 * freed inode number, and deleted if it still refuses connections. A live server's socket always
 * accepts connections: it is linked into place only once it does.
 */
export async function removeStale(path: string, stale: BigIntStats, limit: number): Promise<void> {
  const aside = besidePath(path, limit)
  try {
    renameSync(path, aside)
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return
    throw error
  }
  const moved = lstatSync(aside, { bigint: true })
  if (moved.isSocket() && moved.dev === stale.dev && moved.ino === stale.ino && (await refusesConnections(aside))) {
    unlinkSync(aside)
  } else {
    renameSync(aside, path)
  }
}

/** A socket file placed by a server: its path, and the identity of the file to remove on close. */
export interface SocketFile {
  path: string
  dev: bigint
  ino: bigint
}

export function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

/** The error Node gives for an address in use, for a path another server holds. */
export function addressInUse(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`listen EADDRINUSE: address already in use ${path}`), {
    code: 'EADDRINUSE',
    errno: -(osConstants.errno.EADDRINUSE ?? 98),
    syscall: 'listen',
    address: path,
  })
}

/**
 * A fresh random name in the directory of `path` (link() and rename() work within one file system),
 * short enough for the socket path limit: `.` and up to 12 random characters.
 */
export function besidePath(path: string, limit: number): string {
  const directory = dirname(path)
  const room = Math.min(12, limit - Buffer.byteLength(join(directory, '.')))
  if (room < 4) {
    throw new RangeError(`socket path ${JSON.stringify(path)} leaves no room within ${limit} bytes for a temporary name in its directory`)
  }
  return join(directory, `.${randomBytes(9).toString('base64url').slice(0, room)}`)
}

export function bind(server: NetServer, address: Exclude<ResolvedAddress, { kind: 'nats' }>): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening)
      server.off('close', onClose)
      reject(error)
    }
    const onListening = (): void => {
      server.off('error', onError)
      server.off('close', onClose)
      resolve()
    }
    // Closed before it was listening (close() in the same tick): 'listening' never comes.
    const onClose = (): void => {
      server.off('error', onError)
      server.off('listening', onListening)
      reject(new ChannelClosedError('the server was closed while it started listening'))
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.once('close', onClose)
    if (address.kind === 'tcp') {
      server.listen(address.port, address.host)
    } else if (address.kind === 'unix' && typeof process.umask === 'function') {
      // The socket file is created by the synchronous bind inside listen(): under umask 077 it is
      // owner-only from the first instant, before the chmod that follows, even outside ipcPath's 0700 dir.
      let previous: number | undefined
      try {
        previous = process.umask(0o077)
      } catch {
        // Worker threads may not change the umask; the chmod after listening still applies.
      }
      try {
        server.listen(address.path)
      } finally {
        if (previous !== undefined) process.umask(previous)
      }
    } else {
      server.listen(address.path)
    }
  })
}

/**
 * What is at `path`: nothing any more; a stale socket file, one that refuses connections (its stats
 * are returned); or something in use. A file that is not a socket is never stale: it is not ours to
 * delete.
 */
export async function inspectPath(path: string): Promise<'free' | 'in use' | BigIntStats> {
  let file: BigIntStats
  try {
    file = lstatSync(path, { bigint: true })
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? 'free' : 'in use'
  }
  if (!file.isSocket()) return 'in use'
  return (await refusesConnections(path)) ? file : 'in use'
}

/** Whether connecting to the socket file at `path` fails with ECONNREFUSED: nobody listens on it. */
export function refusesConnections(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = netConnect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(false)
    })
    probe.once('error', (error: NodeJS.ErrnoException) => {
      probe.destroy()
      resolve(error.code === 'ECONNREFUSED')
    })
  })
}

/** What placing a socket file needs from its server. */
export interface PlacementHooks {
  /** The socket is bound (under its temporary name): its later errors are the server's. */
  bound(): void
  /** Throws when the server was closed meanwhile. */
  check(): void
  closing(): boolean
}

/**
 * Binds `server` under a temporary name beside `path` and links it to `path` once it accepts
 * connections (see Server's #bindSocketFile). @returns the identity of the file placed.
 */
export async function placeSocketFile(server: NetServer, path: string, limit: number, hooks: PlacementHooks): Promise<SocketFile> {
  let temporary = besidePath(path, limit)
  for (let attempt = 1; ; attempt++) {
    try {
      await bind(server, { kind: 'unix', path: temporary })
      break
    } catch (error) {
      // Another file has that random name: draw another.
      if (errorCode(error) !== 'EADDRINUSE' || attempt === 3 || hooks.closing()) throw error
      temporary = besidePath(path, limit)
    }
  }
  hooks.bound()
  let file: SocketFile
  try {
    hooks.check()
    chmodSync(temporary, 0o600)
    const bound = lstatSync(temporary, { bigint: true })
    for (let attempt = 1; ; attempt++) {
      try {
        linkSync(temporary, path)
        break
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error
      }
      const found = attempt < 4 ? await inspectPath(path) : 'in use'
      hooks.check()
      if (found === 'in use') throw addressInUse(path)
      if (found !== 'free') {
        await removeStale(path, found, limit)
        hooks.check()
      }
    }
    file = { path, dev: bound.dev, ino: bound.ino }
  } catch (error) {
    // Closing removes the temporary name (libuv unlinks the path a socket was bound to).
    server.close()
    throw error
  }
  try {
    unlinkSync(temporary)
  } catch {
    // Already gone: libuv removes it again, harmlessly, when the server closes.
  }
  return file
}
