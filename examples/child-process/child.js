// The child of parent.js. It connects to its parent over the pipe spawnChild made (descriptor 3) and
// writes to its stdout as any program does.
import { connectParent } from 'ipc-channel'

const log = (...args) => console.log('[child]', ...args)
const quality = Number(process.argv[process.argv.indexOf('--quality') + 1])

log(`started with quality ${quality}; console output is free, the channel has its own pipe`)

const parent = await connectParent({
  // setup runs before the handshake: these handlers may call the parent back through `channel`.
  setup(channel) {
    channel.expose({
      async thumbnail(name, width) {
        if (!(width > 0)) throw new RangeError(`width must be positive, got ${width}`)
        for (const percent of [50, 100]) await channel.rpc('progress', name, percent)
        return { name: name.replace(/\.jpg$/, '.thumb.jpg'), width, bytes: new Uint8Array(width * width * (quality / 100)) }
      },
      crash(code) {
        setImmediate(() => process.exit(code))
        return new Promise(() => {})
      },
    })
  },
})
log('connected to the parent')
// If the parent dies, so does this helper.
parent.on('disconnect', () => process.exit(0))
