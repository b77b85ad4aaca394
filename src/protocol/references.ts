/**
 * References on the wire (PROTOCOL.md chapter 17): the tag that stands for a function, an object or an
 * AbortSignal passed by reference, the shape of its content, and the two walks that put tags in place
 * of such values before cbor-x encodes a message and put values back in place of tags after it
 * decoded one. What a tag stands for is decided by the reference tables (core/references.ts), reached
 * through {@link ReferenceHooks}; nothing here keeps state.
 */
import { Tag } from 'cbor-x'
import { ProtocolError, SerializationError } from './errors.js'
import { MAX_NESTING } from './profile.js'
import { DATA_VIEW, Unsendable, whyUnsendable } from './sendable.js'

/** The name under which a hello announces references (PROTOCOL.md sections 5.2 and 17.1). */
export const REFERENCES_FEATURE = 'references'

/**
 * The tag of a reference: 49374 (0xc0de), written `d9 c0 de`. Not registered with IANA; it occurs only
 * between endpoints that both announced the `references` feature.
 */
export const REFERENCE_TAG = 0xc0de

/** What a reference's tag content `[kind, ...]` says. */
export const ReferenceKind = {
  /** `[0, ref]`: a function the sender exports as `ref`. */
  Function: 0,
  /** `[1, ref]`: an object the sender exports as `ref` (passed with `ref()`), called by member name. */
  Object: 1,
  /** `[2, ref]`: an AbortSignal of the sender, exported as `ref`; a Signal message tells when it aborts. */
  Signal: 2,
  /** `[3, ref]`: the receiver's own export `ref`, sent back: it arrives as the original. */
  Returned: 3,
  /** `[4, reason]`: an AbortSignal that had already aborted, with its reason as an error envelope. */
  AbortedSignal: 4,
} as const

export type ReferenceKind = (typeof ReferenceKind)[keyof typeof ReferenceKind]

/** The content of a reference tag, checked: a kind and its reference id, or an aborted signal's reason. */
export type ReferenceContent = readonly [kind: 0 | 1 | 2 | 3, ref: number] | readonly [kind: 4, reason: unknown]

/** How the walks reach the reference tables of the connection a message travels on. */
export interface ReferenceHooks {
  /**
   * The tag content standing for `value` (a function or an object that is not plain data), or
   * undefined when it travels as data.
   * @throws SerializationError when it would travel by reference and cannot: no open connection, a
   *   peer without the feature, the export bound reached, a released stub.
   */
  encodeReference(value: object): ReferenceContent | undefined
  /**
   * The value standing for a received reference.
   * @throws ProtocolError for a reference the peer may not send (an unknown or forged id, the import
   *   bound exceeded).
   */
  decodeReference(content: ReferenceContent): unknown
}

/** The general encoder's own data classes: encoded as themselves, never walked into nor asked about. */
function isDataObject(value: object): boolean {
  return (
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof Error ||
    value instanceof Tag
  )
}

/**
 * Returns `value` with a reference tag in place of every function, and of every other object the hooks
 * claim, at any depth: arrays, plain objects, Maps, Sets and the enumerable properties of class
 * instances (what cbor-x encodes of them) are walked. Copies only what changes; returns `value`
 * itself when nothing does.
 * @throws SerializationError from the hooks, or for a value nested deeper than the profile allows
 *   (which also ends a cycle); Unsendable (sendable.ts) for an object that cannot travel.
 */
export function substituteReferences(value: unknown, hooks: ReferenceHooks): unknown {
  return substitute(value, hooks, 0)
}

function substitute(value: unknown, hooks: ReferenceHooks, depth: number): unknown {
  if (typeof value === 'function') return referenceTag(value, hooks)
  if (typeof value !== 'object' || value === null) return value
  if (depth >= MAX_NESTING) throw new SerializationError('value cannot be serialized: it is cyclic or nested too deeply')
  const next = depth + 1
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const member: unknown = value[i]
      if (typeof member !== 'object' && typeof member !== 'function') continue
      const swapped = substitute(member, hooks, next)
      if (swapped !== member) (copy ??= value.slice())[i] = swapped
    }
    return copy ?? value
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    if (isDataObject(value)) {
      if (value instanceof DataView) throw new Unsendable(value, DATA_VIEW)
      return value
    }
    if (value instanceof Map) return substituteMap(value, hooks, next)
    if (value instanceof Set) {
      let changed = false
      const members: unknown[] = []
      for (const member of value) {
        const swapped = substitute(member, hooks, next)
        if (swapped !== member) changed = true
        members.push(swapped)
      }
      return changed ? new Set(members) : value
    }
    const content = hooks.encodeReference(value)
    if (content !== undefined) return new Tag(content, REFERENCE_TAG)
    // Neither data nor a reference: a class instance travels as its own enumerable fields, and only
    // when that is all there is to it.
    const why = whyUnsendable(value)
    if (why !== undefined) throw new Unsendable(value, why)
  }
  let copy: Record<string, unknown> | undefined
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    const member = record[key]
    if (typeof member !== 'object' && typeof member !== 'function') continue
    const swapped = substitute(member, hooks, next)
    // A copy is a plain object of the enumerable own properties: what cbor-x writes of any object.
    if (swapped !== member) (copy ??= { ...record })[key] = swapped
  }
  return copy ?? value
}

function substituteMap(map: Map<unknown, unknown>, hooks: ReferenceHooks, depth: number): Map<unknown, unknown> {
  let changed = false
  const entries: [unknown, unknown][] = []
  for (const [key, member] of map) {
    const swappedKey = substitute(key, hooks, depth)
    const swapped = substitute(member, hooks, depth)
    if (swappedKey !== key || swapped !== member) changed = true
    entries.push([swappedKey, swapped])
  }
  return changed ? new Map(entries) : map
}

function referenceTag(value: object, hooks: ReferenceHooks): Tag {
  const content = hooks.encodeReference(value)
  if (content === undefined) throw new SerializationError('value cannot be serialized: Unknown type: function')
  return new Tag(content, REFERENCE_TAG)
}

/**
 * Replaces, in place, every reference tag of a decoded message by the value the hooks make of it.
 * Decoded values are this side's own fresh objects; Maps and Sets that hold a reference are rebuilt.
 * Nesting was bounded by the profile check.
 * @throws ProtocolError for a malformed tag content, or from the hooks.
 */
export function restoreReferences(value: unknown, hooks: ReferenceHooks): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (value instanceof Tag) {
    if (value.tag !== REFERENCE_TAG) return value
    return hooks.decodeReference(checkContent(value.value))
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restoreReferences(value[i], hooks)
    return value
  }
  if (value instanceof Map) {
    let changed = false
    const entries: [unknown, unknown][] = []
    for (const [key, member] of value) {
      const restoredKey = restoreReferences(key, hooks)
      const restored = restoreReferences(member, hooks)
      if (restoredKey !== key || restored !== member) changed = true
      entries.push([restoredKey, restored])
    }
    return changed ? new Map(entries) : value
  }
  if (value instanceof Set) {
    let changed = false
    const members: unknown[] = []
    for (const member of value) {
      const restored = restoreReferences(member, hooks)
      if (restored !== member) changed = true
      members.push(restored)
    }
    return changed ? new Set(members) : value
  }
  if (isDataObject(value)) return value
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) record[key] = restoreReferences(record[key], hooks)
  return value
}

/** Reference ids are unsigned integers of at most 4 bytes, 0 excluded. */
const MAX_REFERENCE_ID = 0xffffffff

function checkContent(content: unknown): ReferenceContent {
  if (Array.isArray(content) && content.length === 2) {
    const [kind, second] = content as [unknown, unknown]
    if (kind === ReferenceKind.AbortedSignal) return [kind, second]
    if (
      (kind === ReferenceKind.Function || kind === ReferenceKind.Object || kind === ReferenceKind.Signal || kind === ReferenceKind.Returned) &&
      typeof second === 'number' &&
      Number.isInteger(second) &&
      second >= 1 &&
      second <= MAX_REFERENCE_ID
    ) {
      return [kind, second]
    }
  }
  throw new ProtocolError('malformed reference: the content of tag 49374 must be [kind, id] or [4, reason]')
}
