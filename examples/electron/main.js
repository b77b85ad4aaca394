// @ts-check
// Electron's main process talking to a renderer over a MessagePortMain (Electron >= 28, for an ESM
// main): calls both ways, and a subscription, where the renderer passes a callback by reference.
// Electron is not a dependency of this repository (its installer would fetch a binary, and its
// releases from 42 on require Node 22): install it to run this. `npm run typecheck` checks these files
// against Electron's type definitions when it is installed (tsconfig.json beside them), and the
// adapter is tested against the documented MessagePortMain shape in test/integration/links/ports.test.ts.
//
//   npm install --no-save electron
//   npm run build
//   npx esbuild examples/electron/renderer.js --bundle --format=esm --outfile=examples/electron/renderer.bundle.js
//   npx electron examples/electron/main.js
import { app, BrowserWindow, MessageChannelMain } from 'electron'
import { fileURLToPath } from 'node:url'
import { fromMessagePort } from 'ipc-channel'

/** @param {string} file a path relative to this file */
const here = (file) => fileURLToPath(new URL(file, import.meta.url))

async function openWindow() {
  const window = new BrowserWindow({
    width: 640,
    height: 400,
    webPreferences: { preload: here('./preload.js'), contextIsolation: true, sandbox: true },
  })
  await window.loadFile(here('./index.html'))

  // One MessageChannel per window: port2 goes to the renderer (through the preload), port1 stays here.
  const { port1, port2 } = new MessageChannelMain()
  window.webContents.postMessage('ipc-channel-port', null, [port2])

  // MessagePortMain is an EventEmitter whose 'message' listener receives { data, ports }, and which
  // transfers ports only: fromMessagePort knows both and calls port1.start().
  const channel = fromMessagePort(port1, { role: 'server' })
  channel.expose({
    appVersion: () => app.getVersion(),
    /**
     * @param {string} name
     * @param {Uint8Array} bytes
     */
    async saveFile(name, bytes) {
      console.log(`[main] the renderer saves ${name}: ${bytes.byteLength} bytes`)
      return { saved: true, at: new Date() }
    },
  })
  // Subscriptions by reference: the renderer passes a function, which arrives here as a stub that
  // calls it back in the renderer. It stays callable until the renderer unsubscribes (the stub is
  // disposed then), the stub is garbage collected, or the window goes away.
  /** @type {Set<import('ipc-channel').Stub<(tick: { at: Date, count: number }) => void>>} */
  const listeners = new Set()
  let count = 0
  const clock = setInterval(() => {
    count++
    for (const listener of listeners) {
      // A renderer that went away rejects with ChannelClosedError: forget its listener.
      listener({ at: new Date(), count }).catch(() => listeners.delete(listener))
    }
  }, 1000)
  channel.expose({
    /** @param {import('ipc-channel').Stub<(tick: { at: Date, count: number }) => void>} listener */
    subscribe(listener) {
      listeners.add(listener)
      console.log(`[main] the renderer subscribed (${listeners.size} listener)`)
    },
    /** @param {import('ipc-channel').Stub<(tick: { at: Date, count: number }) => void>} listener */
    unsubscribe(listener) {
      // The renderer passes the same function again: it arrives as the very stub held above.
      listeners.delete(listener)
      listener[Symbol.dispose]()
      console.log(`[main] the renderer unsubscribed; references: ${JSON.stringify(channel.stats())}`)
    },
  })
  channel.on('connect', async () => {
    const title = await channel.rpc('documentTitle')
    console.log(`[main] the renderer shows "${title}"`)
  })
  // A closed window or a crashed renderer closes the port: pending calls reject, nothing hangs.
  channel.on('disconnect', (reason) => console.log(`[main] renderer gone: ${reason?.message ?? 'closed'}`))
  window.on('closed', () => {
    clearInterval(clock)
    void channel.close()
  })
}

app.whenReady().then(openWindow)
app.on('window-all-closed', () => app.quit())
