// The worker of main.js: a channel over parentPort.
import { parentPort } from 'node:worker_threads'
import { fromMessagePort } from 'ipc-channel'

const channel = fromMessagePort(parentPort, { role: 'client' })

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

channel.expose({
  fib,
  async *primes(count) {
    for (let n = 2, found = 0; found < count; n++) {
      let prime = true
      for (let d = 2; d * d <= n; d++) if (n % d === 0) prime = false
      if (prime) {
        found++
        yield n
      }
    }
  },
  checksum: (bytes) => bytes.reduce((sum, byte) => (sum + byte) % 65521, 0),
})
channel.notify('log', 'ready')
