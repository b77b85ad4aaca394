/**
 * A browser project, compiled against the built declarations in dist/ (tsconfig.json beside this
 * file): no Node types, the DOM and `ESNext.Disposable` libs, and the `browser` condition that
 * bundlers use. `ipc-channel` then means the browser build, as `ipc-channel/browser` does.
 */
import * as main from 'ipc-channel'
import { Channel, fromMessagePort, type Remote } from 'ipc-channel/browser'

interface Api {
  add(a: number, b: number): number
}

export async function main_(): Promise<number> {
  const { port1 } = new MessageChannel()
  await using channel: Channel = main.fromMessagePort(port1, { secret: 's' })
  const api: Remote<Api> = channel.remote<Api>()
  // @ts-expect-error Server is Node-only: not part of what `ipc-channel` is in a browser project
  void main.Server
  void fromMessagePort
  return api.add(1, 2)
}
