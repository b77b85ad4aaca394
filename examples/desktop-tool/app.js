// A long-running desktop tool and the helper processes it embeds: `node examples/desktop-tool/app.js`
// after `npm run build`. The app listens on ipcPath() (a private Unix socket, or a named pipe on
// Windows) with a fresh secret, starts two helpers that connect to it and register what they can do,
// then uses them as a user's commands come in. A process without the secret is refused.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { AuthenticationError, connect, ipcPath, listen } from 'ipc-channel'

const log = (...args) => console.log('[app]', ...args)

// A secret per run, handed to the helpers in their environment (not on the command line, which
// other users can read).
const secret = randomBytes(32).toString('hex')
const address = ipcPath(`desktop-tool-${process.pid}`)
const server = await listen(address, { secret })
log(`listening on ${address}`)

/** @type {Map<string, import('ipc-channel').Channel>} */
const helpers = new Map()
let registered
const allRegistered = new Promise((resolve) => (registered = resolve))

// { context: true }: the handler learns which connection called, to call that helper back later.
server.expose(
  'register',
  ({ channel }, name, functions) => {
    helpers.set(name, channel)
    log(`helper "${name}" registered: ${functions.join(', ')}`)
    channel.on('disconnect', () => helpers.delete(name))
    if (helpers.size === 2) registered()
    return { welcome: `hello ${name}`, theme: 'dark' }
  },
  { context: true },
)
server.expose('status', (text) => log(`status bar: ${text}`))

const children = ['spelling', 'statistics'].map((name) =>
  spawn(process.execPath, [fileURLToPath(new URL('./helper.js', import.meta.url)), name], {
    env: { ...process.env, DESKTOP_TOOL_ADDRESS: address, DESKTOP_TOOL_SECRET: secret },
    stdio: 'inherit',
  }),
)
const exits = children.map((child) => once(child, 'exit'))
// A helper that dies before registering ends the demo instead of leaving it waiting.
await Promise.race([
  allRegistered,
  ...exits.map((exit) =>
    exit.then(([code]) => {
      throw new Error(`a helper exited with code ${code} before registering`)
    }),
  ),
])

// The user's commands, served by the helpers.
const text = 'teh quick brwn fox jumps over the lazy dog'
const mistakes = await helpers.get('spelling').rpc('check', text)
log(`spelling.check -> ${mistakes.map((m) => `${m.word} => ${m.suggestion}`).join(', ')}`)
const stats = await helpers.get('statistics').rpc('count', text)
log(`statistics.count -> ${stats.words} words, ${stats.letters} letters`)

// Someone else on the machine, without the secret, gets nowhere.
try {
  await connect(address, { secret: 'guessed' })
  log('an intruder connected (this must not happen)')
} catch (error) {
  log(`a process without the secret was refused: ${error instanceof AuthenticationError ? 'AuthenticationError' : error.name}`)
}

// Quitting: every helper sees its channel close and exits; the socket file is removed.
await server.close()
const codes = (await Promise.all(exits)).map(([code]) => code)
log(`helpers exited with ${codes.join(' and ')}; closed`)
