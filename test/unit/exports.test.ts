import { expect, test } from 'vitest'
import * as browser from '../../src/browser.js'
import * as main from '../../src/index.js'

test('public exports of the package entry point', () => {
  expect(Object.keys(main).sort()).toMatchInlineSnapshot(`
    [
      "AbortError",
      "AuthenticationError",
      "BufferFullError",
      "Channel",
      "ChannelClosedError",
      "Client",
      "InProgress",
      "IpcError",
      "MethodNotFoundError",
      "ProtocolError",
      "ReferenceReleasedError",
      "RemoteError",
      "SerializationError",
      "Server",
      "TimeoutError",
      "connect",
      "connectParent",
      "expose",
      "fromMessagePort",
      "fromStream",
      "ipcPath",
      "listen",
      "ref",
      "spawnChild",
      "transfer",
    ]
  `)
})

test('public exports of the browser entry point', () => {
  expect(Object.keys(browser).sort()).toMatchInlineSnapshot(`
    [
      "AbortError",
      "AuthenticationError",
      "BufferFullError",
      "Channel",
      "ChannelClosedError",
      "InProgress",
      "IpcError",
      "MethodNotFoundError",
      "ProtocolError",
      "ReferenceReleasedError",
      "RemoteError",
      "SerializationError",
      "TimeoutError",
      "expose",
      "fromMessagePort",
      "ref",
      "transfer",
    ]
  `)
})

test('the browser entry point is the main one without the Node-only names', () => {
  const nodeOnly = Object.keys(main).filter((name) => !(name in browser))
  expect(nodeOnly.sort()).toMatchInlineSnapshot(`
    [
      "Client",
      "Server",
      "connect",
      "connectParent",
      "fromStream",
      "ipcPath",
      "listen",
      "spawnChild",
    ]
  `)
  for (const name of Object.keys(browser)) {
    expect(main[name as keyof typeof main], name).toBe(browser[name as keyof typeof browser])
  }
})
