/** A worker_threads MessageChannel for one test: both ports are closed when it ends, passed or not. */
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { onTestFinished } from 'vitest'

export function messageChannel(): { port1: MessagePort; port2: MessagePort } {
  const { port1, port2 } = new MessageChannel()
  onTestFinished(() => {
    port1.close()
    port2.close()
  })
  return { port1, port2 }
}
