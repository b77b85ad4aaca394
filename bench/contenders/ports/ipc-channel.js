/**
 * ipc-channel over the port, from dist/: `fromMessagePort(port)` on both ends, `expose('echo', fn)` in
 * the Worker and `rpc('echo', value)` in the main thread. Variants: `plain`, and `transfer`: the
 * argument and the result marked with `transfer()` (bytes only; the argument is detached on the
 * sender), which the runner runs only when dist/ exports it (bench/lib/pair.js).
 */
import * as ipc from '../../../dist/index.js'
import { portMain } from '../../lib/ports.js'

/**
 * The transfer marker. Assumed shape: `transfer(value)` marks a Uint8Array (or ArrayBuffer) and
 * returns what to pass in its place, as `Comlink.transfer(value, [value.buffer])` does; if the export
 * takes other arguments, this is the one line to change.
 */
const transferred = (bytes) => ipc.transfer(bytes)

async function server({ port, variant, echo }) {
  const channel = ipc.fromMessagePort(port, { role: 'server' })
  channel.expose('echo', variant === 'transfer' ? (bytes) => transferred(echo(bytes)) : echo)
}

async function client({ port, variant }) {
  const channel = ipc.fromMessagePort(port, { role: 'client' })
  return {
    call: variant === 'transfer' ? (bytes) => channel.rpc('echo', transferred(bytes)) : (value) => channel.rpc('echo', value),
    close: () => channel.close(),
  }
}

portMain({ server, client }, import.meta.filename)
