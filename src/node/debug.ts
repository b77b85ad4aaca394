/**
 * `NODE_DEBUG=ipc-channel`: when set, every channel made without a `trace` option prints one line per
 * frame to stderr, through Node's debuglog (which prefixes `IPC-CHANNEL <pid>:`). Imported for this
 * side effect by the Node entry point; read once, when the package loads, as debuglog reads it.
 */
import { debuglog } from 'node:util'
import { setDefaultTrace } from '../core/options.js'
import { formatTraceEvent } from '../core/trace.js'

const log = debuglog('ipc-channel')
if (log.enabled) setDefaultTrace((event) => log(formatTraceEvent(event)))
