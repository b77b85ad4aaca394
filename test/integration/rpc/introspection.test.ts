/**
 * Seeing inside a channel across processes: describe() of a server process (and with introspection
 * off, and against a version-1 peer that does not announce it), ping(), the trace of a call, a
 * notification, a stream and an error, the NODE_DEBUG=ipc-channel lines, and the counts of stats().
 */
import { spawn } from 'node:child_process'
import { describe, expect, onTestFinished, test } from 'vitest'
import { connect, listen, MethodNotFoundError, type Channel, type TraceEvent } from '../../../dist/index.js'
import { repositoryRoot, spawnFixture, tempSocket, within } from '../../helpers/processes.js'
import { rejection } from '../../helpers/outcome.js'
import { helloFrame, MessageType, messageFrame, rawConnect } from '../../helpers/wire.js'

async function serverProcess(options: { introspection?: boolean } = {}): Promise<string> {
  const address = tempSocket('introspection.sock')
  const server = spawnFixture('cli-server.mjs', [address, JSON.stringify(options)])
  await within(10_000, server.message(), 'the server listening')
  return address
}

describe('describe()', () => {
  test("lists a server process's functions with what is known of each", async () => {
    const client = await connect(await serverProcess())
    onTestFinished(() => client.close())
    const described = await within(5000, client.describe(), 'describe()')
    expect(described.map(({ name }) => name)).toEqual(['add', 'greet', 'echo', 'bytes', 'nothing', 'fail', 'count', 'work', 'hang'])
    expect(described[0]).toEqual({ name: 'add', description: 'adds two numbers', parameters: 2 })
    expect(described.find(({ name }) => name === 'count')).toEqual({ name: 'count', stream: true, parameters: 1 })
    expect(described.find(({ name }) => name === 'work')).toEqual({ name: 'work', context: true, parameters: 1 })
  })

  test('a channel lists its own names first, then those of its server it does not shadow', async () => {
    const address = tempSocket()
    const server = await listen(address)
    onTestFinished(() => server.close())
    server.expose('shared', () => 1, { description: 'on every channel' })
    server.expose('both', () => 2)
    server.on('connection', (channel) => channel.expose('own', () => 3).expose('both', () => 4, { description: 'this channel' }))
    const client = await connect(address)
    onTestFinished(() => client.close())
    expect(await client.describe()).toEqual([
      { name: 'own', parameters: 0 },
      { name: 'both', description: 'this channel', parameters: 0 },
      { name: 'shared', description: 'on every channel', parameters: 0 },
    ])
  })

  test('with introspection: false the server answers MethodNotFoundError, and calls still work', async () => {
    const client = await connect(await serverProcess({ introspection: false }))
    onTestFinished(() => client.close())
    const error = await rejection<MethodNotFoundError>(client.describe())
    expect(error).toBeInstanceOf(MethodNotFoundError)
    expect(error.message).toMatch(/introspection: false/)
    // The reserved name is not answered either when asked for directly.
    expect(await rejection(client.rpc('$describe'))).toBeInstanceOf(MethodNotFoundError)
    expect(await client.rpc('add', 1, 2)).toBe(3)
  })

  test('a side with introspection off can still describe a peer that has it on', async () => {
    const client = await connect(await serverProcess(), { introspection: false })
    onTestFinished(() => client.close())
    expect((await client.describe()).length).toBe(9)
  })

  test('a version-1 peer that does not announce it: describe() rejects at once and sends nothing', async () => {
    const address = tempSocket()
    const server = await listen(address)
    onTestFinished(() => server.close())
    const channels: Channel[] = []
    server.on('connection', (channel) => channels.push(channel))
    const peer = await rawConnect(address)
    peer.socket.write(helloFrame({ window: 64 }))
    await peer.receive((message) => message[0] === MessageType.Hello)
    await within(
      5000,
      new Promise<void>((resolve) => (channels.length > 0 ? resolve() : server.once('connection', () => resolve()))),
      'the connection',
    )
    const error = await rejection<MethodNotFoundError>(channels[0]!.describe())
    expect(error).toBeInstanceOf(MethodNotFoundError)
    expect(error.message).toMatch(/predates describe/)
    // Its ping is answered (any peer answers pings), and no call was ever sent to it.
    const pong = channels[0]!.ping()
    const ping = await peer.receive((message) => message[0] === MessageType.Ping)
    peer.socket.write(messageFrame([MessageType.Pong, ping[1]]))
    expect(await within(5000, pong, 'the pong')).toBeGreaterThan(0)
    expect(peer.messages.filter((message) => Array.isArray(message) && message[0] === MessageType.Call)).toEqual([])
  })
})

describe('ping()', () => {
  test('resolves with a round trip in milliseconds; rejects once the channel is closed', async () => {
    const client = await connect(await serverProcess())
    const ms = await within(5000, client.ping(), 'ping()')
    expect(ms).toBeGreaterThan(0)
    expect(ms).toBeLessThan(5000)
    await client.close()
    await expect(client.ping()).rejects.toThrow(/closed/)
  })
})

describe('trace', () => {
  test('one event per frame: a call and its result with the round trip, a notification, a stream, an error', async () => {
    const events: TraceEvent[] = []
    const client = await connect(await serverProcess(), { trace: (event) => events.push(event), heartbeat: false })
    onTestFinished(() => client.close())
    await client.rpc('add', 1, 2)
    client.notify('echo', 'fire and forget')
    expect(await client.rpc('count', 2)).toEqual([{ i: 1 }, { i: 2 }])
    await rejection(client.rpc('fail'))
    await client.close()
    const seen = events.map(({ direction, type, id, method }) => [direction, type, id, method].filter((part) => part !== undefined).join(' '))
    expect(seen).toEqual([
      'out hello',
      'in hello',
      'out call 1 add',
      'in result 1 add',
      'out notify echo',
      'out call 2 count',
      'in item 2 count',
      'in item 2 count',
      'in end 2 count',
      'out call 3 fail',
      'in error 3 fail',
      'out goodbye',
    ])
    const connection = events[0]!.connection
    for (const event of events) {
      expect(event.connection).toBe(connection)
      expect(event.size).toBeGreaterThan(0)
    }
    const answers = events.filter(({ direction, type }) => direction === 'in' && (type === 'result' || type === 'end' || type === 'error'))
    for (const { rtt } of answers) expect(rtt).toBeGreaterThan(0)
    expect(events.filter(({ rtt }) => rtt !== undefined)).toEqual(answers)
  })

  test('NODE_DEBUG=ipc-channel prints one line per frame on stderr', async () => {
    const address = await serverProcess()
    const script = `import { connect } from './dist/index.js'
      const client = await connect(${JSON.stringify(address)}, { heartbeat: false })
      await client.rpc('greet', 'trace')
      await client.close()`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repositoryRoot,
      env: { ...process.env, NODE_DEBUG: 'ipc-channel' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await within(15_000, new Promise((resolve) => child.once('close', resolve)), 'the traced client')
    expect(code).toBe(0)
    const lines = stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(5)
    expect(lines[2]).toMatch(new RegExp(`^IPC-CHANNEL ${child.pid}: #1 -> call 1 "greet" \\d+ B$`))
    expect(lines[3]).toMatch(/^IPC-CHANNEL \d+: #1 <- result 1 "greet" \d+ B \d+\.\d{3} ms$/)
    expect(lines[4]).toMatch(/-> goodbye 3 B$/)
  })
})

describe('stats()', () => {
  test('counts frames and bytes each way, pending calls, and what waits', async () => {
    const client = await connect(await serverProcess(), { heartbeat: false })
    onTestFinished(() => client.close())
    const before = client.stats()
    expect(before).toMatchObject({
      framesSent: 1,
      framesReceived: 1,
      pendingCalls: 0,
      runningHandlers: 0,
      waitingCalls: 0,
      queuedFrames: 0,
      queuedBytes: 0,
    })
    const hanging = client.rpc('hang')
    hanging.catch(() => {})
    expect(client.stats().pendingCalls).toBe(1)
    await client.rpc('echo', new Uint8Array(10_000))
    const after = client.stats()
    expect(after.framesSent).toBe(before.framesSent + 2)
    expect(after.framesReceived).toBe(before.framesReceived + 1)
    expect(after.bytesSent - before.bytesSent).toBeGreaterThan(10_000)
    expect(after.bytesReceived - before.bytesReceived).toBeGreaterThan(10_000)
    expect(after.pendingCalls).toBe(1)
    hanging.abort()
    expect(client.stats().pendingCalls).toBe(0)
  })
})
