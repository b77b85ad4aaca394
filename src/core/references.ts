/**
 * The reference tables of one connection (PROTOCOL.md chapter 17), and their bound: what this side
 * exports to the peer (functions, `ref()` objects, AbortSignals, each with the number of times it was
 * sent), what it imports from the peer (stubs, each with the number of times it arrived), looking up
 * what a call through a reference reaches, releasing imports in batches when they are disposed or
 * collected, and the end of everything with the connection. One per open connection whose peer
 * announced the feature; the codec reaches it as its CodecReferences while the connection is open.
 */
import type { CodecReferences } from '../protocol/codec.js'
import type { Payload } from '../protocol/framing.js'
import { ReferenceKind, type ReferenceContent } from '../protocol/references.js'
import { ChannelClosedError, MethodNotFoundError, ProtocolError, ReferenceReleasedError, SerializationError } from './errors.js'
import { InProgress } from './in-progress.js'
import type { Handler, Registration, Registry } from './registry.js'
import { abortImported, forwardedMember, importOf, isAbortSignal, makeSignal, makeStub, RefToken, type ImportEntry, type StubOwner } from './stubs.js'
import { IdMap } from './id-map.js'

/** What the tables need from the channel; built by the channel as arrow functions. */
export interface ReferencePorts {
  /** Calls the peer's export `ref` (its `member`, or itself when null) on this connection. */
  call(ref: number, member: string | null, args: unknown[], label: string): InProgress<unknown, unknown>
  /** Sends a Release of `[ref, count, ...]`. */
  release(releases: number[]): void
  /** Sends a Signal: this side's AbortSignal exported as `ref` aborted with `reason`. */
  signal(ref: number, reason: unknown): void
  /** The error envelope of an AbortSignal's reason, as an already aborted signal carries it. */
  envelope(reason: unknown): unknown
  /** The reason an envelope from the peer stands for. */
  reason(envelope: unknown): unknown
}

/** The bounds of one connection's tables. */
export interface ReferenceLimits {
  /** References this side exports at most: its own maxReferences, lowered to the peer's. */
  readonly exports: number
  /** References this side imports at most: its own maxReferences, as announced to the peer. */
  readonly imports: number
}

/** Reference ids wrap below 2^31, like call ids, skipping ids still exported. */
const MAX_ID = 0x7fffffff
/** Largest count one release pair carries (a 4-byte unsigned integer). */
const MAX_COUNT = 0xffffffff
/** Pairs per Release message: at most 1,006 bytes, within the smallest frame limit a peer may announce. */
const RELEASES_PER_MESSAGE = 100

/** One reference this side exports. */
interface Export {
  readonly id: number
  readonly kind: 0 | 1 | 2
  /** The function, object or AbortSignal: what the reference stands for, kept alive while exported. */
  readonly target: object
  /** Times it was sent and not yet released by the peer. */
  count: number
  /** A function's registration; an object's members (undefined for a forwarded stub: looked up when called). */
  readonly registration: Registration | undefined
  readonly members: Registry | undefined
  /** Stops listening to an exported AbortSignal. */
  unlisten: (() => void) | undefined
  /** Revoked by its owner: calls are refused, and a new sending of the target is a new export. */
  revoked: boolean
}

/** What a payload that carried references changed in the export table, so that it can be undone. */
interface Sent {
  readonly payload: Payload
  readonly exports: Export[]
}

/** The reference tables of one connection. */
export class References implements CodecReferences, StubOwner {
  readonly accepting = true
  readonly #ports: ReferencePorts
  readonly #limits: ReferenceLimits
  readonly #exports = new IdMap<Export>()
  readonly #exported = new Map<object, Export>()
  readonly #imports = new IdMap<ImportEntry>()
  readonly #collected = new FinalizationRegistry<ImportEntry>((entry) => this.#release(entry))
  #nextId = 1
  #wrapped = false
  #ended: Error | undefined
  /** Exports counted for the message being encoded. */
  #counted: Export[] = []
  /** The last message that carried references, until the sender has taken it (see {@link take}). */
  #last: Sent | undefined
  /** Releases waiting for the end of the current task, by the peer's id. */
  #releases = new Map<number, number>()

  constructor(ports: ReferencePorts, limits: ReferenceLimits) {
    this.#ports = ports
    this.#limits = limits
  }

  /** References this side exports. */
  get exported(): number {
    return this.#exports.size
  }

  /** References this side holds from the peer and has not released. */
  get imported(): number {
    return this.#imports.size
  }

  // Sending ------------------------------------------------------------------------------------

  encodeReference(value: object): ReferenceContent | undefined {
    let target = value
    let token: RefToken | undefined
    if (value instanceof RefToken) {
      token = value
      target = value.target
    }
    const entry = importOf(target)
    if (entry !== undefined) {
      if (entry.owner === this) {
        if (entry.released) throw new SerializationError('cannot send a stub that was released back to its owner')
        return [ReferenceKind.Returned, entry.id]
      }
      if (entry.released || (entry.owner instanceof References && entry.owner.#ended)) {
        throw new SerializationError('cannot send a stub whose reference was released or whose connection ended')
      }
      // A stub of another connection travels as this side's own, below: calls are forwarded through it.
    }
    if (isAbortSignal(target)) {
      if (target.aborted) return [ReferenceKind.AbortedSignal, this.#ports.envelope(target.reason)]
      return this.#export(target, 2, undefined)
    }
    if (typeof target === 'function') return this.#export(target, 0, token)
    if (token !== undefined || entry !== undefined) return this.#export(target, 1, token)
    return undefined
  }

  #export(target: object, kind: 0 | 1 | 2, token: RefToken | undefined): ReferenceContent {
    let entry = this.#exported.get(target)
    if (entry === undefined) {
      if (this.#ended) throw new SerializationError('cannot send a reference: the connection has ended')
      if (this.#exports.size >= this.#limits.exports) {
        throw new SerializationError(`cannot send a reference: ${this.#exports.size} are already exported on this connection (maxReferences)`)
      }
      const registration = kind === 0 ? (token?.registration ?? { fn: target as Handler, thisArg: undefined, context: false }) : undefined
      entry = { id: this.#newId(), kind, target, count: 0, registration, members: token?.members, unlisten: undefined, revoked: false }
      this.#exports.set(entry.id, entry)
      this.#exported.set(target, entry)
      if (kind === 2) this.#listen(entry, target as AbortSignal)
    }
    entry.count++
    this.#counted.push(entry)
    return [entry.kind, entry.id]
  }

  #newId(): number {
    let id = this.#nextId
    if (this.#wrapped) while (this.#exports.has(id)) id = id >= MAX_ID ? 1 : id + 1
    if (id >= MAX_ID) {
      this.#nextId = 1
      this.#wrapped = true
    } else {
      this.#nextId = id + 1
    }
    return id
  }

  #listen(entry: Export, signal: AbortSignal): void {
    const onAbort = (): void => {
      entry.unlisten = undefined
      if (!this.#ended && this.#exports.get(entry.id) === entry) this.#ports.signal(entry.id, signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    entry.unlisten = () => signal.removeEventListener('abort', onAbort)
  }

  settle(payload: Payload | undefined): void {
    const counted = this.#counted
    this.#counted = []
    if (payload === undefined) {
      this.#undo(counted)
      return
    }
    if (this.#last === undefined) {
      // Held for the sender that takes it at once; let go at the end of the task otherwise.
      queueMicrotask(() => {
        this.#last = undefined
      })
    }
    this.#last = { payload, exports: counted }
  }

  discard(payload: Payload): void {
    const last = this.#last
    if (last?.payload !== payload) return
    this.#last = undefined
    this.#undo(last.exports)
  }

  /**
   * When `payload` is the last message that carried references: a function that undoes its exports
   * (for a frame that is taken back before it is sent). A frame that carries references belongs to
   * this connection and is never sent on another.
   */
  take(payload: Payload): (() => void) | undefined {
    const last = this.#last
    if (last?.payload !== payload) return undefined
    this.#last = undefined
    return () => this.#undo(last.exports)
  }

  #undo(counted: Export[]): void {
    for (const entry of counted) this.#drop(entry, 1)
  }

  #drop(entry: Export, count: number): void {
    entry.count -= count
    if (entry.count > 0 || this.#exports.get(entry.id) !== entry) return
    this.#exports.delete(entry.id)
    if (this.#exported.get(entry.target) === entry) this.#exported.delete(entry.target)
    entry.unlisten?.()
    entry.unlisten = undefined
  }

  /**
   * This side stops serving `target` on this connection: calls through the peer's stubs of it are
   * answered with ReferenceReleasedError from now on. The export still counts until the peer releases
   * it (the peer holds a stub either way); sent again, the target is a new export.
   * @returns whether `target` was exported.
   */
  revoke(target: object): boolean {
    const entry = this.#exported.get(target)
    if (entry === undefined) return false
    entry.revoked = true
    this.#exported.delete(target)
    entry.unlisten?.()
    entry.unlisten = undefined
    return true
  }

  // Receiving ----------------------------------------------------------------------------------

  decodeReference(content: ReferenceContent): unknown {
    const kind = content[0]
    if (kind === ReferenceKind.AbortedSignal) return AbortSignal.abort(this.#ports.reason(content[1]))
    const id = content[1] as number
    if (kind === ReferenceKind.Returned) {
      const entry = this.#exports.get(id)
      if (entry === undefined) throw new ProtocolError(`the peer sent back reference ${id}, which this side does not export to it`)
      return entry.target
    }
    const known = this.#imports.get(id)
    if (known !== undefined) {
      if (known.kind !== kind) throw new ProtocolError(`the peer sent reference ${id} as another kind than before`)
      const target = known.target.deref()
      if (target !== undefined) {
        known.count++
        return target
      }
      // Collected, its release not yet run: the new stub takes over what the old one owed.
      this.#collected.unregister(known)
      known.released = true
      return this.#import(id, kind, known.count + 1)
    }
    if (this.#imports.size >= this.#limits.imports) {
      throw new ProtocolError(`the peer exported more than ${this.#limits.imports} references at once (maxReferences)`)
    }
    return this.#import(id, kind, 1)
  }

  #import(id: number, kind: 0 | 1 | 2, count: number): object {
    const made = kind === 2 ? makeSignal(this, id, count) : makeStub(this, id, kind, count)
    const target = 'signal' in made ? made.signal : made.stub
    this.#imports.set(id, made.entry)
    this.#collected.register(target, made.entry, made.entry)
    return target
  }

  /** The peer's AbortSignal `ref` aborted: so does the one standing for it here. */
  signal(ref: number, reason: () => unknown): void {
    const entry = this.#imports.get(ref)
    if (entry?.kind === 2) abortImported(entry, reason())
  }

  /** The peer dropped `count` sendings of each `ref` in `[ref, count, ...]`. Unknown refs are ignored: a release is idempotent. */
  released(releases: readonly number[]): void {
    for (let i = 0; i + 1 < releases.length; i += 2) {
      const entry = this.#exports.get(releases[i])
      if (entry !== undefined) this.#drop(entry, releases[i + 1])
    }
  }

  /**
   * What a call of export `ref` (its `member`, or itself when null) reaches. A reference that is not
   * exported (never given, released, forged) or a member that is not callable gives a registration
   * that throws, so that the call is answered with that error like any failed call.
   */
  registration(ref: number, member: string | null): Registration {
    const entry = this.#exports.get(ref)
    if (entry === undefined)
      return failing(new ReferenceReleasedError(`reference ${ref} is not exported on this connection: released, or never given`))
    if (entry.revoked) return failing(new ReferenceReleasedError(`reference ${ref} was revoked by its owner`))
    if (entry.kind === 0) {
      if (member === null) return entry.registration!
      return failing(new MethodNotFoundError(member, { message: `reference ${ref} is a function: it has no member ${JSON.stringify(member)}` }))
    }
    if (entry.kind === 2 || member === null) {
      const what = entry.kind === 2 ? 'an AbortSignal: nothing on it can be called' : 'an object: call one of its members'
      return failing(new MethodNotFoundError(member ?? '', { message: `reference ${ref} is ${what}` }))
    }
    const registration = entry.members === undefined ? forwarded(entry.target, member) : entry.members.get(member)
    return registration ?? failing(new MethodNotFoundError(member, { message: `method not found on reference ${ref}: ${JSON.stringify(member)}` }))
  }

  // Stubs --------------------------------------------------------------------------------------

  call(entry: ImportEntry, member: string | null, args: unknown[]): InProgress<unknown, unknown> {
    const label = member === null ? `reference ${entry.id}` : `reference ${entry.id}.${member}`
    if (entry.released) return rejected(label, new ReferenceReleasedError(`${label} was released`))
    if (this.#ended) return rejected(label, new ChannelClosedError(`${label} died with its connection`, { cause: this.#ended }))
    return this.#ports.call(entry.id, member, args, label)
  }

  dispose(entry: ImportEntry): void {
    if (entry.released) return
    entry.released = true
    this.#collected.unregister(entry)
    this.#release(entry)
  }

  /** Drops import `entry` and queues its release, unless a newer import took its id. */
  #release(entry: ImportEntry): void {
    entry.released = true
    if (this.#ended || this.#imports.get(entry.id) !== entry) return
    this.#imports.delete(entry.id)
    if (this.#releases.size === 0) queueMicrotask(() => this.#flush())
    this.#releases.set(entry.id, (this.#releases.get(entry.id) ?? 0) + entry.count)
  }

  /** Sends the releases queued during this task, in messages that fit any frame limit. */
  #flush(): void {
    const releases = this.#releases
    this.#releases = new Map()
    if (this.#ended) return
    let list: number[] = []
    for (const [id, total] of releases) {
      for (let count = total; count > 0; count -= MAX_COUNT) {
        list.push(id, Math.min(count, MAX_COUNT))
        if (list.length === 2 * RELEASES_PER_MESSAGE) {
          this.#ports.release(list)
          list = []
        }
      }
    }
    if (list.length > 0) this.#ports.release(list)
  }

  // Ending -------------------------------------------------------------------------------------

  /**
   * The connection ended: every stub now rejects with ChannelClosedError, imported AbortSignals abort
   * with `reason`, and exports are let go.
   */
  end(reason: ChannelClosedError): void {
    if (this.#ended) return
    this.#ended = reason
    for (const entry of this.#imports.values()) {
      if (entry.kind === 2) abortImported(entry, reason)
      this.#collected.unregister(entry)
    }
    this.#imports.clear()
    for (const entry of this.#exports.values()) entry.unlisten?.()
    this.#exports.clear()
    this.#exported.clear()
    this.#releases.clear()
    this.#last = undefined
    this.#counted = []
  }
}

/** What calls through references reach when the connection has no tables (it ended meanwhile). */
export const unreachable = {
  registration: (ref: number): Registration =>
    failing(new ReferenceReleasedError(`reference ${ref} is not exported: the connection has no references`)),
}

function failing(error: Error): Registration {
  return {
    fn: () => {
      throw error
    },
    thisArg: undefined,
    context: false,
  }
}

function forwarded(stub: object, member: string): Registration | undefined {
  return (stub as Record<string, unknown>)[member] === undefined ? undefined : forwardedMember(stub, member)
}

function rejected(label: string, error: Error): InProgress<unknown, unknown> {
  const call = new InProgress<unknown, unknown>(undefined, 0, label)
  call.reject(error)
  return call
}
