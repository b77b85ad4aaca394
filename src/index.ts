/**
 * ipc-channel: a symmetric, bidirectional RPC channel between processes.
 * Everything of the platform-neutral entry (./browser.ts), and the Node links: servers, clients,
 * streams and child processes.
 * @packageDocumentation
 */
import './node/debug.js'
export * from './browser.js'
export { Server, listen, type ServerOptions, type ServerEvents } from './node/server.js'
export { Client, connect, type ClientOptions, type ClientEvents, type ReconnectOptions } from './node/client.js'
export type { NatsOptions } from './node/nats-options.js'
export { ipcPath } from './node/ipc-path.js'
export { fromStream, type StreamOptions, type StreamPair } from './node/link.js'
export {
  spawnChild,
  connectParent,
  type SpawnChildOptions,
  type StdioEntry,
  type ConnectParentOptions,
  type ChildLink,
  type ChildExitInfo,
} from './node/child.js'
