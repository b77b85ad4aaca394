/**
 * The platform-neutral part of ipc-channel, for browsers, Electron renderers and workers: nothing here
 * imports from `node:`.
 * @packageDocumentation
 */
export {
  Channel,
  type CallContext,
  type CallOptions,
  type ChannelOptions,
  type ChannelEvents,
  type ChannelStats,
  type Implementation,
  type Remote,
  type RemoteReturn,
} from './core/channel.js'
export type { TraceEvent, TraceFunction, TraceMessageType } from './core/trace.js'
export type { MethodDescription } from './protocol/introspection.js'
export { ref } from './core/stubs.js'
export type { Ref, Stub, Remoted, Local, StubReturn, CallerArgs } from './core/api-types.js'
export type { HeartbeatOptions } from './core/options.js'
export { InProgress } from './core/in-progress.js'
export type { ExposeOptions, Handler } from './core/registry.js'
export { expose, type ExposeDecorator } from './core/decorator.js'
export type { Transport, TransportSink } from './core/transport.js'
export type { LinkOptions } from './core/link.js'
export type { Role } from './core/handshake.js'
export type { Payload } from './protocol/framing.js'
export type { Traffic } from './core/channel-events.js'
export type { ErrorClass } from './protocol/fault.js'
export { transfer } from './protocol/transfer.js'
export * from './core/errors.js'
export { fromMessagePort, type MessagePortOptions, type MessagePortLike, type EmitterPort, type EventTargetPort } from './transports/message-port.js'
