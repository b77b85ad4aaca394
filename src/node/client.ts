import { connect as netConnect, type Socket } from 'node:net'
import { Channel, DEFAULT_MAX_FRAME_SIZE, type ChannelOptions } from '../core/channel.js'
import { SocketTransport } from '../transports/socket.js'
import { resolveAddress, type ResolvedAddress } from './ipc-path.js'

/** Options of a {@link Client}. */
export type ClientOptions = ChannelOptions

const noop = (): void => {}

/**
 * A Channel that connects to a Server. It starts connecting as soon as it is made; calls made before
 * the handshake completes are queued and sent after it.
 */
export class Client extends Channel {
  readonly #resolved: ResolvedAddress
  readonly #address: string
  #socket: Socket | undefined
  #ready: Promise<void>

  /**
   * @param address a socket path, a `\\.\pipe\name`, or `tcp://host:port`; see `ipcPath()`.
   * @throws TypeError for an address that cannot be parsed.
   */
  constructor(address: string, options: ClientOptions = {}) {
    super(options)
    this.#address = address
    this.#resolved = resolveAddress(address)
    this.#ready = this.#connect()
  }

  /** The address this client connects to. */
  get address(): string {
    return this.#address
  }

  /**
   * Settles with the current connection attempt: resolves once the handshake (and authentication)
   * succeeded; rejects with the socket error (`ECONNREFUSED`, `ENOENT`, ...), an AuthenticationError,
   * a ProtocolError or a TimeoutError.
   */
  ready(): Promise<void> {
    return this.#ready
  }

  override close(): Promise<void> {
    if (this.#socket?.connecting) this.#socket.destroy()
    return super.close()
  }

  override destroy(error?: Error): Promise<void> {
    if (this.#socket?.connecting) this.#socket.destroy()
    return super.destroy(error)
  }

  #connect(): Promise<void> {
    const resolved = this.#resolved
    const socket = resolved.kind === 'tcp' ? netConnect(resolved.port, resolved.host) : netConnect(resolved.path)
    this.#socket = socket
    const attempt = new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.failWithoutTransport(error)
        reject(error)
      }
      socket.once('error', onError)
      socket.once('connect', () => {
        socket.off('error', onError)
        const transport = new SocketTransport(socket, { maxFrameSize: this.options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE })
        this.attach(transport, 'client').then(resolve, reject)
      })
    })
    // Nobody has to call ready(): a failed attempt must not become an unhandled rejection.
    attempt.catch(noop)
    return attempt
  }
}

/** Makes a {@link Client} and waits until it is ready. */
export async function connect(address: string, options?: ClientOptions): Promise<Client> {
  const client = new Client(address, options)
  try {
    await client.ready()
  } catch (error) {
    await client.destroy()
    throw error
  }
  return client
}
