/**
 * The browser build: src/browser.ts bundles for the browser platform without any Node built-in, and
 * exports fromMessagePort.
 */
import { expect, test } from 'vitest'
import { browserBundle } from './bundle.js'

test('the browser bundle builds and contains no node: import', async () => {
  const { code, metafile } = await browserBundle()
  expect(code.length).toBeGreaterThan(1000)
  const inputs = Object.keys(metafile.inputs)
  expect(inputs.filter((input) => input.startsWith('node:') || /^(buffer|crypto|events|stream|net|os|path|fs)$/.test(input))).toEqual([])
  expect(code).not.toMatch(/\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|\brequire\s*\(\s*["']node:/)
  expect(code).not.toMatch(/\bfrom\s*["'](buffer|crypto|events|stream|net|os|path|fs)["']/)
  // Only the platform-neutral layers and the message-port transport go into it.
  const own = inputs.filter((input) => input.startsWith('src/'))
  expect(
    own.every((input) => /^src\/(browser\.ts|core\/|protocol\/|transports\/(message-port|port-batch)\.ts)/.test(input)),
    own.join('\n'),
  ).toBe(true)
  expect(own).toContain('src/transports/message-port.ts')
})

test('the bundle exports fromMessagePort and the channel classes', async () => {
  const { metafile } = await browserBundle()
  const [output] = Object.values(metafile.outputs)
  expect(output.exports).toEqual(expect.arrayContaining(['Channel', 'fromMessagePort', 'ChannelClosedError', 'RemoteError', 'InProgress']))
  expect(output.exports).not.toContain('spawnChild')
  expect(output.exports).not.toContain('fromStream')
})
