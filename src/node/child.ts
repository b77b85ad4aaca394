/**
 * Child processes with a channel to their parent: spawnChild (the parent's end, over a pipe of its own
 * at descriptor 3, reporting the child's exit as why the channel ended) and connectParent (the
 * child's end).
 */
import { spawn, type ChildProcess, type IOType } from 'node:child_process'
import { Socket } from 'node:net'
import type { Stream } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { attachTransport, Channel, type ChannelOptions } from '../core/channel.js'
import { CHANNEL_OPTION_NAMES, checkOptionNames, frameSizeOf } from '../core/options.js'
import { ChannelClosedError, TimeoutError } from '../core/errors.js'
import type { Transport, TransportSink } from '../core/transport.js'
import type { Payload } from '../protocol/framing.js'
import { StreamTransport } from '../transports/stream.js'

/** The environment variable that tells the child which descriptor leads to its parent. */
const FD_VARIABLE = 'IPC_CHANNEL_FD'
/** The descriptor of the channel's pipe in the child: the first after stdin, stdout and stderr. */
const CHANNEL_FD = 3
/** How long a pipe that broke without a goodbye waits for the child's exit status to report it. */
const EXIT_GRACE_MS = 1000

/** One of the child's standard streams, as `child_process.spawn` takes it. */
export type StdioEntry = IOType | Stream | number | null | undefined

/** Options of {@link spawnChild}: those of the channel, and how to start the process. */
export interface SpawnChildOptions extends ChannelOptions {
  /**
   * Functions the child may call, exposed before it connects so that its first calls find them; the
   * forms are those of `Channel.expose(object)`.
   */
  expose?: object
  /**
   * Called with the channel before the handshake, to expose functions with options (`{ context: true }`)
   * or add listeners that must not miss anything.
   */
  setup?: (channel: Channel) => void
  /**
   * The child's stdin, stdout and stderr, as in `child_process.spawn`. The channel has a pipe of its
   * own, so the child's console output stays free.
   * @default 'inherit'
   */
  stdio?: IOType | [stdin: StdioEntry, stdout: StdioEntry, stderr: StdioEntry]
  /** Working directory of the child. @default process.cwd() */
  cwd?: string
  /** Environment of the child. @default process.env */
  env?: NodeJS.ProcessEnv
  /** The Node executable. @default process.execPath */
  execPath?: string
  /** Options for the Node executable. @default process.execArgv */
  execArgv?: readonly string[]
}

/** Options of {@link connectParent}. */
export interface ConnectParentOptions extends ChannelOptions {
  /** Functions the parent may call, exposed before the handshake; the forms are those of `Channel.expose(object)`. */
  expose?: object
  /**
   * Called with the channel before the handshake, to expose functions with options (`{ context: true }`)
   * or add listeners that must not miss anything.
   */
  setup?: (channel: Channel) => void
}

/** A child process and the connected channel to it. */
export interface ChildLink {
  /** The child process, as `child_process.spawn` returns it. */
  child: ChildProcess
  /** The channel to the child, connected (the handshake has completed). */
  channel: Channel
  /**
   * For `await using link = await spawnChild(...)`: closes the channel, then waits for the child to
   * exit; a child still running 2 seconds later is sent SIGTERM, and SIGKILL 2 seconds after that.
   */
  [Symbol.asyncDispose](): Promise<void>
}

/** @internal The names of {@link ConnectParentOptions}. */
export const PARENT_OPTION_NAMES = [...CHANNEL_OPTION_NAMES, 'expose', 'setup'] as const
/** @internal The names of {@link SpawnChildOptions}. */
export const SPAWN_OPTION_NAMES = [...PARENT_OPTION_NAMES, 'stdio', 'cwd', 'env', 'execPath', 'execArgv'] as const

/** Milliseconds a disposed child has to exit by itself once its channel closed, then after SIGTERM. */
const DISPOSE_GRACE_MS = 2000

/** Why the channel to a child ended: the child exited. Pending calls reject with a ChannelClosedError caused by it. */
export interface ChildExitInfo {
  /** The exit code, or null when a signal ended the child. */
  exitCode: number | null
  /** The signal that ended the child, or null. */
  signal: NodeJS.Signals | null
}

/**
 * Starts `modulePath` in a new Node process and resolves once the channel to it is connected (the
 * child called {@link connectParent} and the handshake succeeded). The channel has a pipe of its own
 * (descriptor 3 in the child), so the child's stdout and stderr stay free. Both sides may expose and
 * call. When the child exits, the channel closes and pending calls reject with a ChannelClosedError
 * whose message and `cause` tell the exit code or signal.
 * @throws (rejects) ChannelClosedError when the child cannot be started or exits before it
 *   connects, AuthenticationError for a wrong secret, TimeoutError when it does not connect within
 *   `handshakeTimeout`; the child is killed when it is still running.
 * @throws (rejects) TypeError or RangeError for an option that is wrong, as `new Channel(options)`.
 */
export async function spawnChild(modulePath: string | URL, args: readonly string[] = [], options: SpawnChildOptions = {}): Promise<ChildLink> {
  checkOptionNames(options, SPAWN_OPTION_NAMES, 'spawnChild')
  const {
    expose,
    setup,
    stdio = 'inherit',
    cwd,
    env = process.env,
    execPath = process.execPath,
    execArgv = process.execArgv,
    ...channelOptions
  } = options
  const [stdin, stdout, stderr] = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio
  const path = modulePath instanceof URL ? fileURLToPath(modulePath) : modulePath
  const channel = new Channel(channelOptions)
  if (expose) channel.expose(expose)
  setup?.(channel)
  const child = spawn(execPath, [...execArgv, path, ...args], {
    cwd,
    env: { ...env, [FD_VARIABLE]: String(CHANNEL_FD) },
    // 'overlapped' is 'pipe' except on Windows, where the child's end must allow overlapped I/O for
    // Node to read and write it asynchronously.
    stdio: [stdin, stdout, stderr, 'overlapped'],
    windowsHide: true,
  })
  const socket = child.stdio[CHANNEL_FD] as Socket | null
  const transport = new ChildTransport(child, socket, frameSizeOf(channelOptions))
  try {
    await attachTransport(channel, transport, 'server')
  } catch (error) {
    const running = child.exitCode === null && child.signalCode === null
    if (running) child.kill()
    if (running && error instanceof TimeoutError) {
      // The child runs but never answered the hello: the usual reason is a module that never connects.
      throw new TimeoutError(
        `${error.message}: the child process ${String(child.pid)} (${path}) is running but did not connect; ` +
          'it most likely never called connectParent()',
        { cause: error },
      )
    }
    throw error
  }
  return { child, channel, [Symbol.asyncDispose]: () => endChild(child, channel) }
}

/** Closes the channel to `child`, then waits for it to exit, and ends it after a grace period. */
async function endChild(child: ChildProcess, channel: Channel): Promise<void> {
  const running = (): boolean => child.exitCode === null && child.signalCode === null && child.pid !== undefined
  const exited = running() ? new Promise<void>((resolve) => child.once('exit', () => resolve())) : Promise.resolve()
  await channel.close()
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), DISPOSE_GRACE_MS)))
    const tooLate = await Promise.race([exited.then(() => false), late])
    clearTimeout(timer)
    if (!tooLate) return
    child.kill(signal)
  }
  await exited
}

let parent: Promise<Channel> | undefined

/**
 * In a process started by {@link spawnChild}: resolves to the channel to the parent once the
 * handshake succeeded. Calling it again returns the same channel. When the parent dies, the channel
 * disconnects (`disconnect` event) and pending calls reject with ChannelClosedError; the process is
 * not ended for it. The open channel keeps the process alive until either side closes it.
 * @throws (rejects) TypeError when this process was not started by spawnChild, and for an option that
 *   is wrong (RangeError for a number out of its range).
 * @throws (rejects) AuthenticationError for a wrong secret, TimeoutError when the handshake does not
 *   complete within `handshakeTimeout`, ChannelClosedError (or the pipe's error) when the parent goes
 *   away first.
 */
export function connectParent(options: ConnectParentOptions = {}): Promise<Channel> {
  try {
    checkOptionNames(options, PARENT_OPTION_NAMES, 'connectParent')
  } catch (error) {
    return Promise.reject(error as Error)
  }
  return (parent ??= openParent(options))
}

async function openParent(options: ConnectParentOptions): Promise<Channel> {
  const fd = Number(process.env[FD_VARIABLE])
  if (!Number.isInteger(fd) || fd < 0) {
    throw new TypeError(`connectParent: this process was not started by spawnChild (${FD_VARIABLE} is not set)`)
  }
  // The descriptor is this process's alone: its own children must not take it for theirs.
  delete process.env[FD_VARIABLE]
  const { expose, setup, ...channelOptions } = options
  const channel = new Channel(channelOptions)
  if (expose) channel.expose(expose)
  setup?.(channel)
  // A duplex pipe: a Unix socket pair, or a named pipe on Windows; net.Socket wraps either.
  const socket = new Socket({ fd, readable: true, writable: true })
  const transport = new StreamTransport(socket, socket, { maxFrameSize: frameSizeOf(channelOptions) })
  await attachTransport(channel, transport, 'client')
  return channel
}

/**
 * The parent's end of the pipe to a child, which reports the child's exit as the reason the channel
 * ended: a pipe that breaks without a goodbye waits (briefly) for the exit status, and an exit closes
 * the pipe even if a grandchild still holds the other end.
 */
class ChildTransport implements Transport {
  readonly #child: ChildProcess
  readonly #inner: StreamTransport | undefined
  #sink: TransportSink | undefined
  #exit: ChannelClosedError | undefined
  #closedLocally = false
  #reported = false
  #waiting: { error: Error | undefined; timer: ReturnType<typeof setTimeout> } | undefined
  #detach: (() => void) | undefined

  constructor(child: ChildProcess, socket: Socket | null, maxFrameSize: number) {
    this.#child = child
    this.#inner = socket ? new StreamTransport(socket, socket, { maxFrameSize }) : undefined
  }

  start(sink: TransportSink): void {
    this.#sink = sink
    const child = this.#child
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      this.#exit = exitError(child, code, signal)
      if (this.#waiting) {
        clearTimeout(this.#waiting.timer)
        this.#report(this.#exit)
      } else if (!this.#reported) {
        this.#inner?.destroy(this.#exit)
      }
    }
    // Before 'spawn', 'error' means the process could not be started: there will be no exit event.
    const onError = (error: Error): void => {
      this.#report(new ChannelClosedError(`the child process could not be started: ${error.message}`, { cause: error }))
    }
    const onSpawn = (): void => {
      child.off('error', onError)
    }
    child.once('exit', onExit)
    child.once('error', onError)
    child.once('spawn', onSpawn)
    this.#detach = () => {
      child.off('exit', onExit)
      child.off('error', onError)
      child.off('spawn', onSpawn)
    }
    if (!this.#inner) return
    this.#inner.start({
      message: (payload) => sink.message(payload),
      drain: () => sink.drain(),
      closed: (error) => this.#pipeClosed(error),
    })
  }

  send(payload: Payload): boolean {
    return this.#inner?.send(payload) ?? false
  }

  close(): void {
    this.#closedLocally = true
    if (this.#inner) this.#inner.close()
    else this.#report(undefined)
  }

  destroy(error?: Error): void {
    this.#closedLocally = true
    if (this.#inner) this.#inner.destroy(error)
    else this.#report(error)
  }

  #pipeClosed(error: Error | undefined): void {
    if (this.#exit || this.#closedLocally) {
      this.#report(this.#closedLocally ? error : this.#exit)
      return
    }
    // The pipe broke without a goodbye: the child is most likely dying. Its exit status, due any
    // moment, says more than the broken pipe.
    const timer = setTimeout(() => this.#report(error), EXIT_GRACE_MS)
    timer.unref()
    this.#waiting = { error, timer }
  }

  #report(error: Error | undefined): void {
    if (this.#reported) return
    this.#reported = true
    this.#waiting = undefined
    if (this.#exit || this.#child.pid === undefined) this.#detach?.()
    this.#sink?.closed(error)
  }
}

function exitError(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): ChannelClosedError {
  const how = signal ? `was killed by ${signal}` : `exited with code ${String(code)}`
  const error = new ChannelClosedError(`the child process ${String(child.pid)} ${how}`)
  Object.assign(error, { exitCode: code, signal } satisfies ChildExitInfo)
  return error
}
