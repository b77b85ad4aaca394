/**
 * The opening exchange: each side sends a hello (magic, version, nonce) and, when a secret is set,
 * an auth proof: HMAC-SHA256(secret, role label || client nonce || server nonce). Each side checks the
 * other's proof, so both learn whether the other knows the secret; a wrong, missing or unexpected
 * secret fails on both sides without any further round trip.
 *
 * Crypto is Web Crypto (`globalThis.crypto`), present in Node >= 20, browsers and Electron, so this
 * file needs nothing from `node:`.
 */
import { AuthenticationError, ProtocolError } from './errors.js'
import {
  MAGIC,
  MAX_REFERENCES,
  MAX_STREAM_WINDOW,
  MessageType,
  MIN_FRAME_SIZE,
  PROTOCOL_VERSION,
  type AuthMessage,
  type HelloMessage,
  type HelloOptions,
} from '../protocol/messages.js'

/**
 * Which end of the connection this is; it decides which proof each side computes. `auto`, for
 * symmetric links (a stream pair, a message port), takes `client` on the side whose nonce is smaller
 * in byte order; equal nonces (a reflected hello) fail.
 */
export type Role = 'client' | 'server' | 'auto'

/** Random bytes each side contributes to the proofs. */
export const NONCE_SIZE = 32

const PROOF_SIZE = 32

const encoder = new TextEncoder()

/** Normalises a secret given as text or bytes. */
export function secretBytes(secret: string | Uint8Array | undefined): Uint8Array | undefined {
  if (secret === undefined) return undefined
  const bytes = typeof secret === 'string' ? encoder.encode(secret) : secret
  if (bytes.byteLength === 0) throw new TypeError('secret must not be empty')
  return bytes
}

/** Byte-wise comparison whose time does not depend on where the inputs differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i]
  return diff === 0
}

/** HMAC-SHA256 of `label || 0x00 || clientNonce || serverNonce` under `secret`. */
export async function computeProof(
  secret: Uint8Array,
  role: 'client' | 'server',
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', secret as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const label = encoder.encode(`ipc-channel ${role}`)
  const data = new Uint8Array(label.byteLength + 1 + clientNonce.byteLength + serverNonce.byteLength)
  data.set(label, 0)
  data.set(clientNonce, label.byteLength + 1)
  data.set(serverNonce, label.byteLength + 1 + clientNonce.byteLength)
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, data))
}

/** What the handshake learned about the peer. */
export interface PeerInfo {
  /** The options the peer announced in its hello. */
  options: HelloOptions
  /** The features in effect on this connection: those both hellos announced. */
  features: ReadonlySet<string>
}

/** The features in effect: those named in both hellos (PROTOCOL.md section 5.2). */
export function negotiateFeatures(own: readonly string[] | undefined, peer: readonly string[] | undefined): ReadonlySet<string> {
  const features = new Set<string>()
  if (own === undefined || peer === undefined) return features
  for (const feature of own) if (peer.includes(feature)) features.add(feature)
  return features
}

/** Whether `feature` is in effect on the connection to `peer`: both hellos announced it. */
export function peerSupports(peer: PeerInfo, feature: string): boolean {
  return peer.features.has(feature)
}

/**
 * One side's handshake. Feed it the peer's handshake messages in order; `receive` resolves to the
 * peer's info once the handshake is complete, to undefined while more is needed, and throws
 * ProtocolError or AuthenticationError when it fails.
 */
export class Handshake {
  readonly #role: Role
  readonly #secret: Uint8Array | undefined
  readonly #nonce: Uint8Array | undefined
  readonly #options: HelloOptions
  #peerHello: HelloMessage | undefined
  #expectedProof: Uint8Array | undefined

  constructor(role: Role, secret: Uint8Array | undefined, options: HelloOptions) {
    this.#role = role
    this.#secret = secret
    this.#options = options
    this.#nonce = secret ? crypto.getRandomValues(new Uint8Array(NONCE_SIZE)) : undefined
  }

  /** The hello to send first. */
  hello(): HelloMessage {
    const options = this.#role === 'auto' ? this.#options : { ...this.#options, role: this.#role }
    return [MessageType.Hello, MAGIC, PROTOCOL_VERSION, this.#nonce ?? null, options]
  }

  /** A fixed role faces the opposite one; `auto` takes the opposite of a fixed peer, else compares nonces. */
  #resolveRole(peerRole: 'client' | 'server' | undefined, peerNonce: Uint8Array): 'client' | 'server' {
    if (this.#role !== 'auto') {
      if (peerRole === this.#role) throw new AuthenticationError(`both sides of the connection are ${this.#role}s`)
      return this.#role
    }
    if (peerRole) return peerRole === 'client' ? 'server' : 'client'
    return autoRole(this.#nonce!, peerNonce)
  }

  /**
   * Processes one message from the peer.
   * @param send sends our auth message when the peer's hello calls for it.
   */
  async receive(message: unknown[], send: (message: AuthMessage) => void): Promise<PeerInfo | undefined> {
    if (!this.#peerHello) {
      const hello = parseHello(message)
      this.#peerHello = hello
      const peerNonce = hello[3]
      if (!this.#secret && !peerNonce) return this.#peerInfo(hello)
      if (!this.#secret) throw new AuthenticationError('the peer requires a secret and none was given')
      if (!peerNonce) throw new AuthenticationError('a secret was given but the peer does not authenticate')
      const role = this.#resolveRole(hello[4].role, peerNonce)
      const [clientNonce, serverNonce] = role === 'client' ? [this.#nonce!, peerNonce] : [peerNonce, this.#nonce!]
      const peerRole = role === 'client' ? 'server' : 'client'
      const [ours, theirs] = await Promise.all([
        computeProof(this.#secret, role, clientNonce, serverNonce),
        computeProof(this.#secret, peerRole, clientNonce, serverNonce),
      ])
      this.#expectedProof = theirs
      send([MessageType.Auth, ours])
      return undefined
    }
    if (message[0] !== MessageType.Auth || !this.#expectedProof) {
      throw new ProtocolError(`unexpected message type ${String(message[0])} during the handshake`)
    }
    const proof = message[1]
    if (!(proof instanceof Uint8Array) || proof.byteLength !== PROOF_SIZE) {
      throw new ProtocolError('malformed auth message')
    }
    if (!constantTimeEqual(proof, this.#expectedProof)) {
      throw new AuthenticationError('the peer failed to prove the secret')
    }
    return this.#peerInfo(this.#peerHello)
  }

  #peerInfo(hello: HelloMessage): PeerInfo {
    return { options: hello[4], features: negotiateFeatures(this.#options.features, hello[4].features) }
  }
}

/** A positive integer small enough to be exact; anything else in a hello option is ignored. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1
}

function autoRole(own: Uint8Array, peer: Uint8Array): 'client' | 'server' {
  for (let i = 0; i < own.byteLength; i++) {
    if (own[i] !== peer[i]) return own[i] < peer[i] ? 'client' : 'server'
  }
  throw new AuthenticationError("the peer sent back this side's own nonce")
}

function parseHello(message: unknown[]): HelloMessage {
  if (message[0] !== MessageType.Hello) {
    throw new ProtocolError(`expected hello, got message type ${String(message[0])}`)
  }
  if (message[1] !== MAGIC) {
    throw new ProtocolError(`not an ipc-channel peer (magic ${JSON.stringify(message[1])})`)
  }
  if (message[2] !== PROTOCOL_VERSION) {
    throw new ProtocolError(`protocol version mismatch: this side speaks ${PROTOCOL_VERSION}, the peer ${String(message[2])}`)
  }
  const nonce = message[3]
  if (nonce !== null && !(nonce instanceof Uint8Array && nonce.byteLength === NONCE_SIZE)) {
    throw new ProtocolError('malformed hello: bad nonce')
  }
  const options = message[4]
  const helloOptions: HelloOptions = {}
  if (typeof options === 'object' && options !== null) {
    const { window, maxFrameSize, role, features, maxReferences, notifyErrors } = options as Record<string, unknown>
    if (isCount(window)) {
      // A window this large would let the peer have a stream sent without any check.
      if (window > MAX_STREAM_WINDOW)
        throw new ProtocolError(`hello announces a stream window of ${window}, above the maximum of ${MAX_STREAM_WINDOW}`)
      helloOptions.window = window
    }
    if (isCount(maxFrameSize)) {
      // A frame limit this small could not take this side's answers, not even an error.
      if (maxFrameSize < MIN_FRAME_SIZE)
        throw new ProtocolError(`hello announces a maxFrameSize of ${maxFrameSize}, below the minimum of ${MIN_FRAME_SIZE}`)
      helloOptions.maxFrameSize = maxFrameSize
    }
    if (role === 'client' || role === 'server') helloOptions.role = role
    if (isCount(maxReferences) && maxReferences <= MAX_REFERENCES) helloOptions.maxReferences = maxReferences
    if (Array.isArray(features)) helloOptions.features = features.filter((name): name is string => typeof name === 'string')
    if (notifyErrors === true) helloOptions.notifyErrors = true
  }
  return [MessageType.Hello, MAGIC, PROTOCOL_VERSION, nonce as Uint8Array | null, helloOptions]
}
