/**
 * Shared pieces of the fault tests in this folder: the faults-server fixture with its mailbox, and a
 * seeded random generator. The wire by hand is in test/helpers/wire.ts.
 */
import { mailbox, type Mailbox, type Report } from '../../helpers/mailbox.js'
import { spawnFixture, tempSocket, type Fixture, within } from '../../helpers/processes.js'
import { mulberry32 } from '../../helpers/random.js'

/** Options of test/fixtures/faults-server.mjs. */
export interface FaultServerOptions {
  secret?: string
  maxFrameSize?: number
  maxHandshakeBytes?: number
  handshakeTimeout?: number
  heartbeat?: false | { interval?: number; timeout?: number }
  maxConcurrentCalls?: number
  maxWaitingCalls?: number
  maxBufferedBytes?: number
  callOnConnect?: string
}

export interface Memory {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

export interface ServerStats {
  counted: number
  held: number
  parked: number
  maxActive: number
  starts: number[]
  connections: number
  callOnConnect: { resolved: number; rejected: number }
  errors: Record<string, number>
  unexpected: { where: string; name: string; message: string; stack?: string }[]
}

export interface StatsReport extends Report {
  stats: ServerStats
  pollution: string[]
  memory: Memory
}

export interface FaultServer {
  fixture: Fixture
  mail: Mailbox
  path: string
  pid: number
  stats(): Promise<StatsReport>
}

/** Spawns test/fixtures/faults-server.mjs on `path` (a fresh one by default) and waits until it listens. */
export async function startFaultServer(options: FaultServerOptions = {}, path = tempSocket(), env: NodeJS.ProcessEnv = {}): Promise<FaultServer> {
  const fixture = spawnFixture('faults-server.mjs', [path, JSON.stringify(options)], env)
  const mail = mailbox(fixture)
  const listening = await mail.take(['listening', 'listen-failed'], 15_000)
  if (listening.type !== 'listening') throw new Error(`faults-server did not listen: ${JSON.stringify(listening)}`)
  return {
    fixture,
    mail,
    path,
    pid: listening.pid as number,
    stats: () => mail.ask<StatsReport>({ cmd: 'stats' }, 'stats'),
  }
}

export { within }

/** Sends a signal to a process that may have exited already. */
export function signal(pid: number | undefined, name: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(pid, name)
  } catch {
    // Already gone.
  }
}

// -------------------------------------------------------------------------------------------------
// Randomness

export { mulberry32 }

/** Helpers over a PRNG. */
export class Random {
  readonly next: () => number

  constructor(seed: number) {
    this.next = mulberry32(seed)
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n)
    for (let i = 0; i < n; i++) out[i] = this.int(256)
    return out
  }

  chance(p: number): boolean {
    return this.next() < p
  }
}
