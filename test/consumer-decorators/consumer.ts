/**
 * A project with `experimentalDecorators` (as NestJS, Angular and TypeORM use), compiled against the
 * built declarations in dist/ (tsconfig.json beside this file). test/types/declarations.test.ts also
 * compiles it with those decorators and runs `run()`.
 */
import { MessageChannel } from 'node:worker_threads'
import { expose, fromMessagePort, type CallContext } from 'ipc-channel'

class Base {
  @expose() ping() {
    return 'pong'
  }
}

export class Files extends Base {
  root = '/srv'

  @expose() read(path: string) {
    return `${this.root}/${path}`
  }

  @expose('stat') statFile(path: string) {
    return { path, size: 3 }
  }

  @expose({ context: true }) where(context: CallContext, path: string) {
    return `${path} ${context.signal.aborted ? 'aborted' : 'running'}`
  }

  helper() {
    return 'not exposed'
  }
}

export class Wrong {
  // @ts-expect-error takes a CallContext first without { context: true }
  @expose() copy(context: CallContext, from: string) {
    return context.signal.aborted ? '' : from
  }
}

/** Exposes a Files over a message channel and calls every name, exposed or not. */
export async function run(): Promise<unknown[]> {
  const { port1, port2 } = new MessageChannel()
  const server = fromMessagePort(port1, { heartbeat: false })
  const client = fromMessagePort(port2, { heartbeat: false })
  server.expose(new Files())
  const results: unknown[] = []
  for (const [name, args] of [
    ['ping', []],
    ['read', ['a.txt']],
    ['stat', ['b.txt']],
    ['where', ['c.txt']],
    ['helper', []],
    ['statFile', []],
  ] as const) {
    results.push(
      await client.call(name, args).then(
        (value) => value,
        (error: unknown) => (error as Error).name,
      ),
    )
  }
  await client.close()
  await server.close()
  return results
}
