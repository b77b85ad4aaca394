/** The error classes of the public contract; they live in protocol/ because their codes travel on the wire. */
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
  ReferenceReleasedError,
  RemoteError,
} from '../protocol/errors.js'
