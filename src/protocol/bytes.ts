/**
 * The typed-array methods and getters of the hot paths, as plain functions. V8 11 (Node 20) compiles
 * hot functions off the main thread, and code compiled there does not inline a property load whose
 * holder is a built-in prototype: `bytes.set(...)`, `bytes.subarray(...)`, `bytes.byteOffset` each
 * become a call of the generic inline cache (7 to 8 ns more a load in a loop, more where its cache is
 * cold), where compiled on the main thread (as bench/instructions.js does, to count the same every
 * run) they are inline. Each function here is the built-in bound once to `call`, so that calling it
 * loads nothing. Not `subarray`: called so on a Buffer (a socket's frames) it looks up the species
 * constructor through V8's generic property lookup, twice, which the method's own call site avoids.
 */

const call = Function.prototype.call
/** %TypedArray%.prototype, which holds the methods and getters of every typed array class. */
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object

function getter(name: string): () => unknown {
  return Object.getOwnPropertyDescriptor(typedArrayPrototype, name)!.get!
}

/** `target.set(source, offset)`. */
export const setBytes = call.bind(Uint8Array.prototype.set) as (target: Uint8Array, source: ArrayLike<number>, offset?: number) => void

/** `view.buffer`, of a typed array (not a DataView, whose getters are its own). */
export const bufferOf = call.bind(getter('buffer')) as (view: ArrayBufferView) => ArrayBufferLike

/** `view.byteOffset`, of a typed array. */
export const byteOffsetOf = call.bind(getter('byteOffset')) as (view: ArrayBufferView) => number

/** `view.byteLength`, of a typed array. */
export const byteLengthOf = call.bind(getter('byteLength')) as (view: ArrayBufferView) => number
