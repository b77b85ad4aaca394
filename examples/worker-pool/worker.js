// A worker of examples/worker-pool: hashes text for as many rounds as asked, a stand-in for CPU work.
import { createHash } from 'node:crypto'
import { parentPort, threadId } from 'node:worker_threads'
import { fromMessagePort } from 'ipc-channel'

const channel = fromMessagePort(parentPort, { role: 'client' })
channel.expose('hash', (text, rounds) => {
  let digest = text
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest('hex')
  return { digest, by: threadId }
})
