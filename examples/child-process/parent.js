// A parent and its child process: `node examples/child-process/parent.js` after `npm run build`.
// The child (child.js) is started with spawnChild; the channel has a pipe of its own, so both keep
// their console. Both sides expose functions and call each other. When the child dies, the calls it
// had not answered reject with ChannelClosedError naming its exit code.
import { spawnChild } from 'ipc-channel'

const log = (...args) => console.log('[parent]', ...args)

const { child, channel } = await spawnChild(new URL('./child.js', import.meta.url), ['--quality', '80'], {
  // Exposed before the child connects: its first calls find them.
  expose: {
    progress: (name, percent) => log(`${name}: ${percent}%`),
  },
})
log(`started the child, pid ${child.pid}`)

/** @type {import('ipc-channel').Remote<{ thumbnail(name: string, width: number): { name: string, width: number, bytes: Uint8Array }, crash(code: number): never }>} */
const api = channel.remote()

const thumb = await api.thumbnail('holiday.jpg', 64)
log(`thumbnail(holiday.jpg, 64) -> ${thumb.name}, ${thumb.width} px, ${thumb.bytes.byteLength} bytes`)

try {
  await api.thumbnail('broken.jpg', -1)
} catch (error) {
  log(`thumbnail(broken.jpg, -1) threw ${error.name}: ${error.message}`)
}

// The child exits in the middle of this call: it rejects at once, with the reason.
try {
  await api.crash(3)
} catch (error) {
  log(`crash(3) rejected with ${error.name}: ${error.message}`)
}
log(`the child exited with code ${child.exitCode}`)
// Nothing is left open: this process exits with code 0.
