/**
 * Node's own child-process IPC: the client forks the server with `serialization: 'json'` or
 * `'advanced'` (the structured clone algorithm, which carries bytes as bytes) and matches replies to
 * calls by id. With 'json', bytes travel as base64 strings and the structured record's Date as a
 * string. The socket path is not used: the channel is the pipe Node sets up for `fork`.
 */
import { fork } from 'node:child_process'
import { jsonArgument, unchanged } from '../lib/framing.js'
import { main } from '../lib/harness.js'

const codecFor = (variant, params) => (variant === 'json' ? jsonArgument(params.scenario) : unchanged)

async function server({ variant, echo, params }) {
  if (!process.send) throw new Error('the fork contender server must be started by its client')
  const { encode, decode } = codecFor(variant, params)
  const handlers = new Map([['echo', (value) => encode(echo(decode(value)))]])
  process.on('message', (message) => {
    process.send({ i: message.i, r: handlers.get(message.m)(...message.a) })
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true })
  return { close: async () => process.disconnect?.() }
}

async function client({ variant, params, script }) {
  const { encode, decode } = codecFor(variant, params)
  const child = fork(script, ['server', variant], {
    serialization: variant === 'json' ? 'json' : 'advanced',
    execArgv: params.serverNodeArgs,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const pending = new Map()
  let nextId = 1
  await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`fork server exited with ${code}`)))
    child.once('message', (message) => (message.ready ? resolve() : reject(new Error('unexpected first message'))))
  })
  child.removeAllListeners('exit')
  child.on('message', (message) => {
    const resolve = pending.get(message.i)
    pending.delete(message.i)
    resolve(decode(message.r))
  })
  return {
    call: (payload) =>
      new Promise((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        child.send({ i: id, m: 'echo', a: [encode(payload)] })
      }),
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.disconnect()
      await exited
    },
  }
}

main({ server, client }, import.meta.filename)
