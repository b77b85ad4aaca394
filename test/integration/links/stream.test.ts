/**
 * fromStream over a real child's stdio: the parent speaks over the child's stdin and stdout, the child
 * (test/fixtures/link-stdio.mjs) over process.stdin and process.stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { Duplex, PassThrough } from 'node:stream'
import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { AuthenticationError, ChannelClosedError, fromStream, type Channel, type StreamOptions } from '../../../dist/index.js'
import { fixturesDir } from '../../helpers/processes.js'
import { outcome } from '../../helpers/outcome.js'
import { DEADLINE_MS, connected, coreScenarios, within } from './scenarios.js'

interface StdioChild {
  child: ChildProcess
  channel: Channel
  exited: Promise<number | string>
  stderr(): string
}

function startStdioChild(childSecret?: string, options: StreamOptions = {}): StdioChild {
  const child = spawn(process.execPath, [join(fixturesDir, 'link-stdio.mjs'), ...(childSecret ? [childSecret] : [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  const channel = fromStream({ readable: child.stdout!, writable: child.stdin! }, options)
  onTestFinished(async () => {
    await channel.destroy()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, channel, exited, stderr: () => stderr }
}

describe('fromStream over a child process stdio', () => {
  coreScenarios(async () => connected(startStdioChild().channel))

  test('the child ends on its own once the channel is closed', async () => {
    const { channel, exited } = startStdioChild()
    await connected(channel)
    await channel.close()
    expect(await within(DEADLINE_MS, exited, 'the child exit')).toBe(0)
  })

  test('a child that exits mid-call rejects the call with ChannelClosedError', async () => {
    const { channel } = startStdioChild()
    await connected(channel)
    const result = await within(DEADLINE_MS, outcome(channel.rpc('exit', 3)), 'the call')
    expect(result.status).toBe('rejected')
    expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
  })

  test('with the same secret on both sides, calls go through', async () => {
    const { channel } = startStdioChild('s3cret', { secret: 's3cret' })
    await connected(channel)
    expect(await within(DEADLINE_MS, channel.rpc('add', 20, 22), 'add')).toBe(42)
  })

  test('a wrong secret fails the handshake with AuthenticationError on both sides', async () => {
    const { channel, stderr, exited } = startStdioChild('right', { secret: 'wrong' })
    const queued = outcome(channel.rpc('add', 1, 2))
    const error = await within(DEADLINE_MS, new Promise<Error>((resolve) => channel.once('error', resolve)), 'the error event')
    expect(error).toBeInstanceOf(AuthenticationError)
    const result = await within(DEADLINE_MS, queued, 'the queued call')
    expect(result.status).toBe('rejected')
    expect((result as { reason: unknown }).reason).toBeInstanceOf(ChannelClosedError)
    await within(DEADLINE_MS, exited, 'the child exit')
    expect(stderr()).toMatch(/link-stdio error: AuthenticationError/)
  })
})

describe('fromStream over in-process streams', () => {
  /** Two duplexes joined back to back, as a socket pair would be. */
  function duplexPair(): [Duplex, Duplex] {
    const aToB = new PassThrough()
    const bToA = new PassThrough()
    return [Duplex.from({ readable: bToA, writable: aToB }), Duplex.from({ readable: aToB, writable: bToA })]
  }

  test('a duplex on each side, both with role auto, both call', async () => {
    const [a, b] = duplexPair()
    const left = fromStream(a, { secret: 'pair' })
    const right = fromStream(b, { secret: 'pair' })
    onTestFinished(async () => {
      await left.destroy()
      await right.destroy()
    })
    left.expose('name', () => 'left')
    right.expose('name', () => 'right')
    const [fromLeft, fromRight] = await within(DEADLINE_MS, Promise.all([left.rpc('name'), right.rpc('name')]), 'both calls')
    expect([fromLeft, fromRight]).toEqual(['right', 'left'])
  })
})
