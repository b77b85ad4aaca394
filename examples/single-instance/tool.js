// A tool that uses the shared helper (helper.js): `node examples/single-instance/tool.js NAME` after
// `npm run build`. Start several at once: the first ones to find no helper each start one, one
// helper wins, and every tool ends up served by it.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { AuthenticationError, connect, ipcPath } from 'ipc-channel'
import { SECRET_FILE, SERVICE } from './paths.js'

const name = process.argv[2] ?? `tool-${process.pid}`
const log = (...args) => console.log(`[${name}]`, ...args)

/** Connects to the helper, starting one when none answers; gives up after `deadlineMs`. */
async function connectToHelper(deadlineMs = 10_000) {
  const deadline = Date.now() + deadlineMs
  let started = false
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    let secret
    try {
      secret = readFileSync(SECRET_FILE, 'utf8')
    } catch {
      secret = undefined // no helper yet, or one that has not written its file yet
    }
    try {
      return await connect(ipcPath(SERVICE), { secret, handshakeTimeout: 2000 })
    } catch (error) {
      const noHelper = error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
      // A secret file of a helper that exited, or none yet from the one that just won: read it again.
      const staleSecret = error instanceof AuthenticationError
      if ((!noHelper && !staleSecret) || Date.now() > deadline) throw error
      if (noHelper && !started) {
        started = true
        const helper = spawn(process.execPath, [fileURLToPath(new URL('./helper.js', import.meta.url))], {
          detached: true,
          stdio: 'inherit',
        })
        helper.unref()
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}

const helper = await connectToHelper()
const answer = await helper.rpc('work', name, 7)
log(`helper ${answer.by} answered ${answer.result}`)
await helper.close()
