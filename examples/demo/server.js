// The demo's server process: `npm run demo` (or `node examples/demo/server.js` after `npm run build`).
// It listens on ipcPath('demo'), starts examples/demo/client.js as a separate Node process, serves it,
// calls it back, and closes once the client has exited. With --serve (`npm run demo -- --serve`) it
// stays up after that, until Ctrl-C, for the ipc-channel command to talk to: the secret is then also
// written to a file only this user can read, whose path it prints.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ipcPath, listen } from 'ipc-channel'

const serve = process.argv.includes('--serve')

const log = (...args) => console.log('[server]', ...args)

// A fresh secret per run, handed to the client through its environment (not its command line, which
// other users can read in `ps`).
const secret = randomBytes(16).toString('hex')
const address = ipcPath('demo')
const server = await listen(address, { secret })

server.expose('add', (a, b) => a + b, { description: 'adds two numbers' })
server.expose({
  stats(values) {
    const sum = values.reduce((total, value) => total + value, 0)
    return { min: Math.min(...values), max: Math.max(...values), mean: sum / values.length }
  },
  parsePort(text) {
    const port = Number(text)
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      const error = new TypeError(`not a port number: ${JSON.stringify(text)}`, {
        cause: new RangeError(`Number(${JSON.stringify(text)}) is ${port}, not an integer in 1..65535`),
      })
      error.code = 'E_BAD_PORT'
      throw error
    }
    return port
  },
  log(text) {
    log(`notify log(${JSON.stringify(text)}) received`)
  },
})

// An async generator is a stream: the caller iterates it with `for await`, with backpressure.
server.expose('countdown', async function* countdown(from) {
  for (let n = from; n > 0; n--) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    yield n
  }
})

server.on('error', (error) => log('error:', error.message))

server.on('connection', async (channel) => {
  channel.once('disconnect', () => log('the client disconnected'))
  try {
    // The server calls the client: every channel is symmetric.
    log('a client connected and authenticated; calling its whoAreYou()')
    const who = await channel.rpc('whoAreYou')
    log(`client.whoAreYou() returned ${JSON.stringify(who)}`)
    channel.notify('welcome', `welcome, ${who.name}`)
  } catch (error) {
    log('calling the client failed:', error)
  }
})

log(`listening on ${address}; starting the client`)
const client = spawn(process.execPath, [fileURLToPath(new URL('./client.js', import.meta.url))], {
  stdio: 'inherit',
  env: { ...process.env, IPC_DEMO_SECRET: secret },
})

// Should anything hang, say so and fail instead of waiting forever. unref(): this timer alone does not
// keep the process alive, so a clean run exits as soon as it is done.
const watchdog = setTimeout(() => {
  if (serve) return
  log('the demo did not finish within 10 s')
  client.kill()
  process.exit(1)
}, 10_000)
watchdog.unref()

client.once('exit', async (code, signal) => {
  if (serve && code === 0) {
    await serveOn()
    return
  }
  log(`the client exited with ${signal ?? `code ${code}`}; closing`)
  await server.close()
  log(`closed; socket file removed: ${!existsSync(address)}`)
  // No process.exit(): the process ends by itself because nothing is left open.
  process.exitCode = code ?? 1
})

/** --serve: stays up for the ipc-channel command until SIGINT or SIGTERM. */
async function serveOn() {
  // Written whole under a temporary name, then renamed: a reader never sees half a secret. Mode 0600.
  const secretFile = join(tmpdir(), `ipc-channel-demo-${process.pid}.secret`)
  writeFileSync(`${secretFile}.tmp`, secret, { mode: 0o600 })
  renameSync(`${secretFile}.tmp`, secretFile)
  log('the client is done; still serving. Try, from this repository:')
  log(`  node dist/node/cli.js list demo --secret-file ${secretFile}`)
  log(`  node dist/node/cli.js call demo add 1 2 --secret-file ${secretFile}`)
  log('Ctrl-C to stop.')
  const stop = async () => {
    rmSync(secretFile, { force: true })
    await server.close()
    log('closed')
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
