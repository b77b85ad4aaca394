/**
 * The control messages a fixture process sends with `process.send`, kept in arrival order so that a
 * test can wait for one kind without another waiter swallowing it. A fixture has one mailbox, made on
 * first use; from then on the mailbox reads every message the fixture sends.
 */
import type { Fixture } from './processes.js'
import { patience } from './time.js'

/** A control message of a fixture process. */
export interface Report {
  type: string
  [key: string]: unknown
}

class Mailbox {
  readonly fixture: Fixture
  /** Every message received, taken or not. */
  readonly #messages: Report[] = []
  readonly #taken = new WeakSet<Report>()
  readonly #waiters = new Set<() => void>()
  /** Set once the fixture has exited and what it sent before is in: no message will come any more. */
  #ended = false

  constructor(fixture: Fixture) {
    this.fixture = fixture
    void this.#pump()
  }

  async #pump(): Promise<void> {
    const exited = this.fixture.exited.then(() => undefined)
    while (!this.#ended) {
      // Messages the fixture queued before it exited still come first: a race between two settled
      // promises goes to the first one listed.
      const message = await Promise.race([this.fixture.message<Report>(), exited]).catch(() => undefined)
      if (message) this.#messages.push(message)
      else this.#ended = true
      for (const wake of [...this.#waiters]) wake()
    }
  }

  /** All messages of `type` received so far, including those already taken. */
  all<T extends Report = Report>(type: string): T[] {
    return this.#messages.filter((message) => message.type === type) as T[]
  }

  /**
   * Resolves with the first message of `type` (or of any of `types`) that `match` accepts and that was
   * not taken before, waiting up to `ms` times the time factor (Infinity: as long as the test runs).
   * Each message is handed out once; rejects if the fixture exits first.
   */
  take<T extends Report = Report>(type: string | string[], ms = 10_000, match: (message: T) => boolean = () => true): Promise<T> {
    const types = Array.isArray(type) ? type : [type]
    const what = types.join(' or ')
    const promise = new Promise<T>((resolve, reject) => {
      const wake = (): void => {
        const message = this.#messages.find((m) => types.includes(m.type) && !this.#taken.has(m) && match(m as T))
        if (message) {
          this.#taken.add(message)
          finish()
          resolve(message as T)
          return
        }
        if (this.#ended) {
          const { exitCode, signalCode } = this.fixture.child
          finish()
          reject(new Error(`fixture exited (${exitCode ?? signalCode}) before sending ${what}:\n${this.fixture.output()}`))
        }
      }
      const timer = Number.isFinite(ms)
        ? setTimeout(() => {
            finish()
            reject(new Error(`no ${what} message within ${patience(ms)} ms:\n${this.fixture.output()}`))
          }, patience(ms))
        : undefined
      const finish = (): void => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
      }
      this.#waiters.add(wake)
      wake()
    })
    // A test that failed early may leave a waiter behind: its rejection when the fixture is killed is not news.
    promise.catch(() => {})
    return promise
  }

  /** Sends a command and waits for the answer of type `answer`. */
  ask<T extends Report = Report>(command: Record<string, unknown>, answer: string, ms = 10_000): Promise<T> {
    const reply = this.take<T>(answer, ms)
    this.fixture.send(command)
    return reply
  }
}

export type { Mailbox }

const mailboxes = new WeakMap<Fixture, Mailbox>()

/** The mailbox of `fixture`, made on first use. */
export function mailbox(fixture: Fixture): Mailbox {
  let box = mailboxes.get(fixture)
  if (!box) mailboxes.set(fixture, (box = new Mailbox(fixture)))
  return box
}
