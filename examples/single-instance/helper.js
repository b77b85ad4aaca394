// The shared helper of examples/single-instance: one per user, started by whichever tool needs it
// first (tool.js), serving every tool, and exiting once no tool has used it for IDLE_MS.
//
// The race it handles: several tools find no helper and each starts one. Every helper makes its own
// secret and calls listen(); exactly one wins (the library refuses a second listen() on a live socket
// with EADDRINUSE), and only the winner writes the secret file, after it listens. A loser writes
// nothing and exits, so it can never replace the winner's secret with its own.
import { randomBytes } from 'node:crypto'
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { ipcPath, listen } from 'ipc-channel'
import { SECRET_FILE, SERVICE } from './paths.js'

const IDLE_MS = Number(process.env.SINGLE_INSTANCE_IDLE_MS ?? 2000)
const log = (...args) => console.log(`[helper ${process.pid}]`, ...args)

const secret = randomBytes(32).toString('hex')
let server
try {
  server = await listen(ipcPath(SERVICE), { secret })
} catch (error) {
  if (error.code !== 'EADDRINUSE') throw error
  log('another helper is already serving; exiting')
  process.exit(0)
}

// Written whole under a name of its own, then renamed over the shared name: a tool reads either the
// old file or the new one, never half of one. Mode 0600: only this user can read the secret.
const temporary = `${SECRET_FILE}.${process.pid}.tmp`
writeFileSync(temporary, secret, { mode: 0o600 })
renameSync(temporary, SECRET_FILE)
log('serving')

server.expose('work', (tool, n) => ({ by: process.pid, tool, result: n * n }), { description: 'squares n for a tool' })

// Exit once idle: no channel open for IDLE_MS.
let idle
const watchIdle = () => {
  clearTimeout(idle)
  if (server.channels.size === 0) idle = setTimeout(stop, IDLE_MS)
}
server.on('connection', (channel) => {
  clearTimeout(idle)
  channel.once('disconnect', () => setImmediate(watchIdle))
})
watchIdle()

async function stop() {
  await server.close()
  // Only our own secret file: a helper started after this one closed may have written its own.
  try {
    if (readFileSync(SECRET_FILE, 'utf8') === secret) rmSync(SECRET_FILE)
  } catch {
    // No file: nothing of ours to remove.
  }
  log('idle; closed')
}
