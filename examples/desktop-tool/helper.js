// A helper process of app.js: connects with the address and secret the app gave it, registers its
// functions, serves the app's calls, and exits when the app closes.
import { Client } from 'ipc-channel'

const name = process.argv[2]
const log = (...args) => console.log(`[${name}]`, ...args)
const address = process.env.DESKTOP_TOOL_ADDRESS
const secret = process.env.DESKTOP_TOOL_SECRET
delete process.env.DESKTOP_TOOL_SECRET

const dictionary = { teh: 'the', brwn: 'brown' }
const capabilities = {
  spelling: {
    check: (text) =>
      text
        .split(/\s+/)
        .filter((word) => word in dictionary)
        .map((word) => ({ word, suggestion: dictionary[word] })),
  },
  statistics: {
    count: (text) => ({ words: text.split(/\s+/).length, letters: text.replace(/\W/g, '').length }),
  },
}

const client = new Client(address, { secret })
client.expose(capabilities[name])
client.on('disconnect', () => {
  log('the app closed; exiting')
  process.exit(0)
})
await client.ready()
const { welcome } = await client.rpc('register', name, Object.keys(capabilities[name]))
log(`the app says "${welcome}"`)
client.notify('status', `${name} ready`)
