/**
 * ipc-channel: a symmetric, bidirectional RPC channel between processes.
 * @packageDocumentation
 */
export { Channel, type CallOptions, type ChannelOptions, type ChannelEvents, type Remote, type RemoteReturn } from './core/channel.js'
export { InProgress } from './core/in-progress.js'
export { expose, type CallContext, type ExposeOptions, type Handler } from './core/registry.js'
export type { Transport, TransportSink } from './core/transport.js'
export type { ErrorClass } from './protocol/fault.js'
export {
  IpcError,
  ChannelClosedError,
  TimeoutError,
  AbortError,
  AuthenticationError,
  MethodNotFoundError,
  ProtocolError,
  SerializationError,
  BufferFullError,
  RemoteError,
} from './core/errors.js'
export { Server, listen, type ServerOptions, type ServerEvents } from './node/server.js'
export { Client, connect, type ClientOptions, type ClientEvents, type ReconnectOptions } from './node/client.js'
export { ipcPath } from './node/ipc-path.js'
export { fromStream, type StreamOptions, type StreamPair } from './node/link.js'
export { spawnChild, connectParent, type SpawnChildOptions, type StdioEntry, type ConnectParentOptions, type ChildLink, type ChildExitInfo } from './node/child.js'
export { fromMessagePort, type MessagePortOptions, type MessagePortLike, type EmitterPort, type EventTargetPort } from './transports/message-port.js'
