/**
 * Helpers for integration tests: real Node processes running fixtures from test/fixtures (plain ESM
 * that imports the built package from dist/), private socket paths, and cleanup after each test.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'
import { patience } from './time.js'

export { timeFactor, patience } from './time.js'

export const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url))

/** The repository root: where example and demo scripts are run from. */
export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url))

/**
 * Rejects with a clear message when `promise` (or an InProgress) has not settled within `ms` (times
 * the {@link timeFactor} of slow platforms).
 */
export function within<T>(deadlineMs: number, promise: PromiseLike<T>, what: string): Promise<T> {
  const ms = patience(deadlineMs)
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([Promise.resolve(promise), deadline]).finally(() => clearTimeout(timer))
}

/**
 * Runs `node <script>` from the repository root until it exits (at most `deadlineMs`); resolves with
 * its exit code (or signal, or a note that it did not exit) and everything it printed. The process is
 * killed after the test if it is still running.
 */
export async function runScript(script: string, deadlineMs = 15_000): Promise<{ exit: number | string; output: string; lines: string[] }> {
  const child = spawn(process.execPath, [script], { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const exit = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => resolve(`no exit within ${deadlineMs} ms`), deadlineMs)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve(code ?? signal ?? 'unknown')
    })
  })
  return { exit, output, lines: output.trimEnd().split(/\r?\n/) }
}

/** A fresh private directory for socket files, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-test-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A socket path in a fresh private directory. */
export function tempSocket(name = 'test.sock'): string {
  return join(tempDir(), name)
}

export interface Fixture {
  child: ChildProcess
  /** Resolves with the next message the fixture sends with `process.send`. */
  message<T = unknown>(): Promise<T>
  /** Sends a message to the fixture's `process.on('message')`. */
  send(message: unknown): void
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>
  /** Everything the fixture wrote to stdout and stderr so far. */
  output(): string
}

/**
 * Forks `test/fixtures/<name>` with an IPC channel for test control, and `execArgv` for Node's flags
 * that NODE_OPTIONS does not take. The process is killed after the test if it is still running.
 */
export function spawnFixture(name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, execArgv: string[] = []): Fixture {
  const child = fork(join(fixturesDir, name), args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
    ...(execArgv.length > 0 ? { execArgv: [...process.execArgv, ...execArgv] } : {}),
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const queue: unknown[] = []
  const waiters: ((message: unknown) => void)[] = []
  child.on('message', (message) => {
    const waiter = waiters.shift()
    if (waiter) waiter(message)
    else queue.push(message)
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return {
    child,
    exited,
    output: () => output,
    send: (message) => child.send(message as never),
    message<T>() {
      if (queue.length > 0) return Promise.resolve(queue.shift() as T)
      return new Promise<T>((resolve, reject) => {
        const onExit = (code: number | null, signal: string | null): void =>
          reject(new Error(`fixture ${name} exited (${code ?? signal}) before sending a message:\n${output}`))
        child.once('exit', onExit)
        waiters.push((message) => {
          child.off('exit', onExit)
          resolve(message as T)
        })
      })
    },
  }
}
