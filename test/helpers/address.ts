/**
 * Where the library really listens for a test's socket path: the path itself on Unix; on Windows the
 * named pipe `resolveAddress()` maps it to (`C:\...\test.sock` becomes `\\.\pipe\...-test.sock`).
 * Tests that open raw `node:net` connections to a library server, or listen with `node:net` where a
 * library Client will connect, go through this, so they meet the library at the same address.
 */
import { resolveAddress } from '../../dist/node/ipc-path.js'

/** The `node:net` path (socket file or named pipe) the library uses for the socket path `path`. */
export function netPath(path: string): string {
  const resolved = resolveAddress(path)
  if (resolved.kind === 'tcp' || resolved.kind === 'nats') throw new TypeError(`${path} is a network address, not a socket path`)
  return resolved.path
}
