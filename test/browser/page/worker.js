/* global self -- a dedicated worker */
// The dedicated worker's side: the link API of the Node tests, over the port the page sends first.
import { fromMessagePort } from './ipc-channel.js'
import { linkApi } from './link-api.mjs'

self.addEventListener(
  'message',
  (event) => {
    const channel = fromMessagePort(event.data.port, { secret: 'browser secret' })
    channel.expose({ ...linkApi(() => channel), where: () => 'worker' })
  },
  { once: true },
)
