/**
 * spawnChild and connectParent: a real child process over its own pipe (descriptor 3), both sides
 * calling, the child's stdout left free, crashes mid-call, and a parent's death seen by the child.
 */
import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import { AuthenticationError, ChannelClosedError, spawnChild, type ChildLink, type SpawnChildOptions } from '../../../dist/index.js'
import { fixturesDir, spawnFixture } from '../../helpers/processes.js'
import { outcome, reasonOf } from '../../helpers/outcome.js'
import { named, onWindows } from '../../helpers/platform.js'
import { nextMessage } from '../support.js'
import { DEADLINE_MS, coreScenarios, within } from './scenarios.js'

const childApi = join(fixturesDir, 'child-api.mjs')

/** How a call or spawnChild fails when the child is gone: its exit code or signal on the cause. */
type ExitError = Error & { cause?: Error & { exitCode?: number; signal?: string } }

interface Spawned extends ChildLink {
  exited: Promise<number | string>
  output(): string
}

/** spawnChild with the child's stdout and stderr captured; the child is killed after the test. */
async function spawnApiChild(options: SpawnChildOptions = {}, env: NodeJS.ProcessEnv = {}): Promise<Spawned> {
  const link = await within(
    DEADLINE_MS * 2,
    spawnChild(childApi, [], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...options }),
    'spawnChild',
  )
  return track(link)
}

function track(link: ChildLink): Spawned {
  const { child, channel } = link
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | string>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode!)
    else child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  onTestFinished(async () => {
    await channel.destroy()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { ...link, exited, output: () => output }
}

/** Resolves once the child's captured stdout and stderr match `pattern`. */
function outputMatching(spawned: Spawned, pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!pattern.test(spawned.output())) return
      spawned.child.stdout!.off('data', check)
      resolve()
    }
    // Listeners run in order: the capturing one, added first, has already appended the chunk.
    spawned.child.stdout!.on('data', check)
    check()
  })
}

describe('spawnChild and connectParent', () => {
  coreScenarios(async () => (await spawnApiChild()).channel)

  test('the child writes to its stdout freely; the channel has its own pipe', async () => {
    const spawned = await spawnApiChild()
    expect(await spawned.channel.rpc('add', 1, 2)).toBe(3)
    // Written before and after connecting; the channel is unaffected either way.
    await within(DEADLINE_MS, outputMatching(spawned, /child-api: connected/), 'the child output')
    expect(spawned.output()).toMatch(/^child-api: stdout is free\nchild-api: connected\n/)
    expect(await spawned.channel.rpc('add', 3, 4)).toBe(7)
  })

  test('functions in the expose option are there for the child from the start', async () => {
    const calls: string[] = []
    const { channel } = await spawnApiChild({ expose: { hello: (name: string) => calls.push(name) } })
    expect(await channel.rpc('callBack', 'hello', 'child')).toBe(1)
    expect(calls).toEqual(['child'])
  })

  test('a child that exits mid-call rejects it with ChannelClosedError naming the exit code', async () => {
    const { channel, exited } = await spawnApiChild()
    const disconnect = new Promise<Error | undefined>((resolve) => channel.once('disconnect', resolve))
    const error = reasonOf<ExitError>(await within(DEADLINE_MS, outcome(channel.rpc('exit', 3)), 'the call'))
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toMatch(/exited with code 3/)
    expect(error.cause).toBeInstanceOf(ChannelClosedError)
    expect(error.cause).toMatchObject({ exitCode: 3, signal: null })
    const reason = await within(DEADLINE_MS, disconnect, 'disconnect')
    expect(reason?.message).toMatch(/exited with code 3/)
    expect(await exited).toBe(3)
  })

  test('a child killed with SIGKILL mid-call rejects it with ChannelClosedError naming the signal', async (context) => {
    if (process.platform === 'win32') context.skip('Windows has no signals: kill() terminates without one')
    const { channel, child } = await spawnApiChild()
    const pending = outcome(channel.rpc('hang'))
    await channel.rpc('add', 0, 0)
    child.kill('SIGKILL')
    const error = reasonOf<ExitError>(await within(DEADLINE_MS, pending, 'the pending call'))
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toMatch(/killed by SIGKILL/)
    expect(error.cause).toMatchObject({ exitCode: null, signal: 'SIGKILL' })
  })

  test('a child that dies of an uncaught exception rejects pending calls with its exit code', async () => {
    const { channel } = await spawnApiChild()
    const pending = outcome(channel.rpc('hang'))
    expect(await channel.rpc('crashSoon', 'boom')).toBe(true)
    const error = reasonOf<ExitError>(await within(DEADLINE_MS, pending, 'the pending call'))
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toMatch(/exited with code 1/)
  })

  test('closing the channel lets the child end on its own', async () => {
    const { channel, exited, output } = await spawnApiChild()
    await channel.close()
    expect(await within(DEADLINE_MS, exited, 'the child exit')).toBe(0)
    expect(output()).toMatch(/child-api: disconnected/)
  })

  test('with a secret on both sides, the child connects; with a wrong one, spawnChild rejects and the child is gone', async () => {
    const good = await spawnApiChild({ secret: 'k1' }, { LINK_SECRET: 'k1' })
    expect(await good.channel.rpc('add', 2, 2)).toBe(4)
    const failing = spawnChild(childApi, [], { secret: 'k1', stdio: 'ignore', env: { ...process.env, LINK_SECRET: 'other' } })
    const error = reasonOf<ExitError>(await within(DEADLINE_MS * 2, outcome(failing), 'spawnChild'))
    expect(error).toBeInstanceOf(AuthenticationError)
  })

  test('a module that fails before connecting rejects spawnChild with its exit code', async () => {
    const error = reasonOf<ExitError>(
      await within(DEADLINE_MS * 2, outcome(spawnChild(join(fixturesDir, 'no-such-module.mjs'), [], { stdio: 'ignore' })), 'spawnChild'),
    )
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error.message).toMatch(/exited with code 1/)
  })

  test('connectParent in a process not started by spawnChild rejects with a clear TypeError', async () => {
    const fixture = spawnFixture('child-api.mjs')
    expect(await within(DEADLINE_MS, fixture.exited, 'the exit')).toBe(1)
    expect(fixture.output()).toMatch(/TypeError: connectParent: this process was not started by spawnChild/)
  })

  // On Windows libuv puts every child it starts in a job object that kills it with its parent.
  const orphan = named("the parent's death disconnects the child's channel", onWindows, 'on Windows the child dies with its parent')
  test.skipIf(onWindows)(orphan, async () => {
    const middle = spawnFixture('child-middle.mjs')
    const { pid } = await within(DEADLINE_MS * 2, nextMessage<{ type: string; pid: number }>(middle, 'spawned'), 'the grandchild')
    onTestFinished(() => {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone, as it should be.
      }
    })
    const notice = new Promise<string>((resolve) => {
      let seen = ''
      middle.child.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
        const line = /child-orphan: parent gone \(.*\)/.exec(seen)
        if (line) resolve(line[0])
      })
    })
    middle.child.kill('SIGKILL')
    const line = await within(DEADLINE_MS, notice, "the orphan's notice")
    expect(line).toMatch(/parent gone \(ChannelClosedError: /)
  })
})
