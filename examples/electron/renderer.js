// @ts-check
// The renderer's side: a DOM MessagePort received from the preload. The browser build of ipc-channel
// ('ipc-channel/browser' in an application) has nothing from Node; bundle this file for the page:
//   npx esbuild examples/electron/renderer.js --bundle --format=esm --outfile=examples/electron/renderer.bundle.js
/* global window, document -- an Electron renderer */
import { fromMessagePort } from 'ipc-channel/browser'

window.addEventListener('message', async (event) => {
  if (event.source !== window || event.data !== 'ipc-channel-port') return
  const [port] = event.ports
  const channel = fromMessagePort(port, { role: 'client' })
  channel.expose('documentTitle', () => document.title)

  const version = /** @type {string} */ (await channel.rpc('appVersion'))
  const result = /** @type {{ saved: boolean, at: Date }} */ (
    await channel.rpc('saveFile', 'notes.txt', new TextEncoder().encode('written in the renderer'))
  )
  const status = `Electron app ${version}; saved: ${result.saved} at ${result.at.toISOString()}`
  document.body.textContent = status

  // A callback passed by reference: the main process calls it every second, until this side
  // unsubscribes with the same function (which reaches the main process as the same stub).
  await channel.ready()
  /** @param {{ at: Date, count: number }} tick */
  const onTick = (tick) => {
    document.body.textContent = `${status}; tick ${tick.count} at ${tick.at.toLocaleTimeString()}`
    if (tick.count >= 5) void channel.rpc('unsubscribe', onTick)
  }
  await channel.rpc('subscribe', onTick)
})
