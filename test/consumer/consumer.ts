/**
 * Compiled against the built declarations in dist/ with library checking on (tsconfig.json beside
 * this file), as a user's project would: catches declarations that reference stripped internals.
 */
import {
  Channel,
  Client,
  InProgress,
  connect,
  expose,
  ipcPath,
  listen,
  ref,
  type CallContext,
  type ChannelStats,
  type Ref,
  type Remote,
  type Stub,
} from 'ipc-channel'

interface Api {
  add(a: number, b: number): number
  watch(context: CallContext, path: string): AsyncGenerator<string>
  subscribe(listener: (line: string) => void): Ref<{ close(): void }>
}

export async function main(): Promise<void> {
  const server = await listen(ipcPath('consumer'), { secret: 's' })
  server.expose({ add: (a: number, b: number) => a + b })
  const client: Client = await connect(ipcPath('consumer'), { secret: 's', reconnect: { maxAttempts: 3 } })
  const channel: Channel = client
  const sum: InProgress<number> = channel.rpc<number>('add', 1, 2)
  const api: Remote<Api> = client.remote<Api>()
  const viaProxy: number = await api.add(1, 2)
  for await (const line of api.watch('/tmp')) void (line satisfies string)
  client.on('reconnecting', ({ attempt, delay }) => void (attempt + delay))
  server.expose('subscribe', (listener: Stub<(line: string) => void>) => ref({ close: () => listener[Symbol.dispose]() }))
  const subscription: Stub<{ close(): void }> = await api.subscribe((line) => void (line satisfies string))
  await subscription.close()
  const stats: ChannelStats = client.stats()
  void stats.exportedReferences
  void [sum, viaProxy, expose]
  await client.close()
  await server.close()
}
