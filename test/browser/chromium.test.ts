/**
 * The browser build in real headless Chromium: a page and a dedicated worker, served from 127.0.0.1,
 * talk over a MessageChannel with a secret (Web Crypto in a secure context). Needs Debian's chromium
 * (.ci/run installs it where apt is available); skipped with a note where it is missing.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { browserBundle } from './bundle.js'

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// On Windows only an .exe can be started: under Wine, the Linux host's /usr/bin/chromium is visible but
// cannot run.
const missing =
  process.platform === 'win32' && !executablePath.toLowerCase().endsWith('.exe')
    ? `no Windows Chromium (set CHROMIUM_PATH to its .exe): the browser test is skipped`
    : existsSync(executablePath)
      ? undefined
      : `no Chromium at ${executablePath} (install Debian's chromium, or set CHROMIUM_PATH): the browser test is skipped`
if (missing) console.warn(missing)

const pageDir = new URL('./page/', import.meta.url)
const fixturesDir = new URL('../fixtures/', import.meta.url)

/** Serves the page, the worker, the link API and the bundle; nothing else. */
async function serve(): Promise<{ server: Server; origin: string }> {
  const { code } = await browserBundle()
  const files: Record<string, () => string> = {
    '/': () => readFileSync(new URL('index.html', pageDir), 'utf8'),
    '/page.js': () => readFileSync(new URL('page.js', pageDir), 'utf8'),
    '/worker.js': () => readFileSync(new URL('worker.js', pageDir), 'utf8'),
    '/link-api.mjs': () => readFileSync(new URL('link-api.mjs', fixturesDir), 'utf8'),
    '/ipc-channel.js': () => code,
  }
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname
    if (path === '/favicon.ico') {
      response.writeHead(204).end()
      return
    }
    const file = files[path]
    if (!file) {
      response.writeHead(404).end()
      return
    }
    const type = path === '/' ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8'
    response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(file())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

describe('headless Chromium', () => {
  let browser: Browser | undefined
  let served: { server: Server; origin: string } | undefined

  beforeAll(async () => {
    if (missing) return
    served = await serve()
    browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      timeout: 15_000,
    })
  }, 30_000)

  afterAll(async () => {
    await browser?.close()
    await new Promise((resolve) => (served ? served.server.close(resolve) : resolve(undefined)))
  })

  test('a page and a dedicated worker call each other over a MessageChannel', async (context) => {
    if (missing) return context.skip(missing)
    const page = await browser!.newPage()
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    try {
      await page.goto(`${served!.origin}/`, { timeout: 10_000 })
      await page.waitForFunction(() => 'results' in window, undefined, { timeout: 10_000 })
      const results = await page.evaluate(() => (window as unknown as { results: Promise<unknown> }).results)
      expect(problems).toEqual([])
      expect(results).toEqual({
        add: 5,
        where: 'page',
        workerCallsPage: 42,
        bytes: { isUint8Array: true, values: [1, 2, 3, 255] },
        values: { date: true, big: String(2n ** 70n), set: true },
        references: { sum: 30, seen: [0, 1, 2], added: 2, aborted: 'stop', exported: true },
        error: {
          name: 'TypeError',
          message: 'bad input: x',
          code: 'E_LINK',
          isTypeError: true,
          isRemoteError: true,
          cause: 'RangeError',
        },
        closed: { name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED', isChannelClosedError: true },
        connected: false,
        bufferGlobal: 'undefined',
        processGlobal: 'undefined',
      })
    } finally {
      await page.close()
    }
  })
})
