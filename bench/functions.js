/**
 * Instructions per call by function, JIT code included, from the callgrind dumps of
 * bench/instructions.js: callgrind names V8's compiled JavaScript by address only, and Node's
 * `--perf-basic-prof` writes where each compiled function lies (/tmp/perf-<pid>.map), which this reads
 * to name them.
 *
 *   rm -f /tmp/perf-*.map
 *   COUNT_NODE_ARGS=--perf-basic-prof COUNT_KEEP=1 COUNT_RUNS=1 COUNT_SHAPES=sequential COUNT_MODE=calls \
 *     BENCH_ONLY=ipc-channel node bench/instructions.js        # prints the dumps' directory
 *   node bench/functions.js <dir>/pair1-server.out.3-01 <dir>/pair2-server.out.3-01
 *
 * Each dump is one counted stretch of one thread (`.2`/`.3`: the first and second stretch; `-01`: the
 * main thread). Given two dumps it prints both and the difference, sorted by the difference (pair1 is
 * raw-socket's, pair2 the next contender's); given one, that one, sorted by cost. Self cost only (what
 * the function's own instructions cost, not its callees'), per call: divided by COUNT_CALLS (4,000 by
 * default, as bench/instructions.js counts; FUNCTIONS_CALLS=n for another). FUNCTIONS_TOP=n rows
 * (default 40). V8's compiler, which bench/instructions.js leaves out of its totals, is one row here.
 * The flag costs start-up time and some drift, not the counts' meaning.
 */
import { readFileSync } from 'node:fs'

const calls = Number(process.env.FUNCTIONS_CALLS ?? process.env.COUNT_CALLS ?? 4000)
const top = Number(process.env.FUNCTIONS_TOP ?? 40)
const dumps = process.argv.slice(2)
if (dumps.length < 1 || dumps.length > 2) {
  console.error('usage: node bench/functions.js <callgrind dump> [<second dump>]')
  process.exit(2)
}

/** The compiled functions of process `pid`: start, size and name, later entries winning (code is reused). */
function codeMap(pid) {
  let text
  try {
    text = readFileSync(`/tmp/perf-${pid}.map`, 'utf8')
  } catch {
    console.error(`no /tmp/perf-${pid}.map: run bench/instructions.js with COUNT_NODE_ARGS=--perf-basic-prof`)
    return []
  }
  const entries = []
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line)
    if (match) entries.push({ start: parseInt(match[1], 16), end: parseInt(match[1], 16) + parseInt(match[2], 16), name: match[3] })
  }
  return entries
}

function nameAt(entries, address) {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i].start <= address && address < entries[i].end) return entries[i].name
  return 'JIT code, unnamed'
}

/** Self cost per function name, per call. */
function costs(path) {
  const self = new Map()
  let fn
  let pid
  let callLine = false
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith('pid:')) pid = line.slice(4).trim()
    else if (line.startsWith('fn=')) fn = line.slice(3).trim()
    else if (line.startsWith('calls=')) callLine = true
    else if (/^[0-9+*-]/.test(line)) {
      // The line after calls= is what the call cost, inclusive: the callee's, not this function's.
      if (callLine) callLine = false
      else if (fn !== undefined) self.set(fn, (self.get(fn) ?? 0) + Number(line.split(' ')[1] ?? 0))
    }
  }
  const entries = codeMap(pid)
  const named = new Map()
  for (const [fn, cost] of self) {
    const address = /^0x([0-9a-f]+)/.exec(fn)
    let name = address ? nameAt(entries, parseInt(address[1], 16)) : fn
    if (!address && /compiler::|Compil|Turbofan|Maglev/.test(fn)) name = 'V8 compiler'
    name = name.replace(/^JS:[*~^+]?/, 'JS ').replace(/file:\/\/\/\S*?\/(dist|bench)\//, '$1/')
    named.set(name, (named.get(name) ?? 0) + cost / calls)
  }
  return named
}

const tables = dumps.map(costs)
const [first, second] = tables
const total = (table) => [...table.values()].reduce((sum, cost) => sum + cost, 0)
const fmt = (n) => Math.round(n).toLocaleString('en-US').padStart(8)
if (second === undefined) {
  console.log(`${fmt(total(first))}  in all, per call`)
  for (const [name, cost] of [...first].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${fmt(cost)}  ${name}`)
} else {
  console.log(`${fmt(total(first))}${fmt(total(second))}${fmt(total(second) - total(first))}  in all, per call`)
  const names = [...new Set([...first.keys(), ...second.keys()])]
  const delta = (name) => (second.get(name) ?? 0) - (first.get(name) ?? 0)
  for (const name of names.sort((a, b) => delta(b) - delta(a)).slice(0, top)) {
    console.log(`${fmt(first.get(name) ?? 0)}${fmt(second.get(name) ?? 0)}${fmt(delta(name))}  ${name}`)
  }
}
