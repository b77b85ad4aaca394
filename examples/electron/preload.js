// @ts-check
// The renderer's preload. A sandboxed preload runs as a classic script (require, no import), so this
// file is CommonJS whatever the package type. It hands the MessagePort from the main process to the
// page; the port itself is a plain DOM MessagePort with nothing privileged on it.
/* global require, window -- an Electron sandboxed preload */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a sandboxed preload cannot import
const { ipcRenderer } = require('electron')

ipcRenderer.on('ipc-channel-port', (event) => {
  // Only to this window's own page, never to a frame of another origin.
  window.postMessage('ipc-channel-port', window.location.origin === 'null' ? '*' : window.location.origin, event.ports)
})
