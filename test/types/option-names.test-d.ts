/**
 * Every list of option names that a constructor or link checks against is exactly the keys of its
 * options type: an option added to the type but not to the list would be refused as unknown, and a
 * name in the list but not in the type would be accepted and ignored.
 */
import { expectTypeOf, test } from 'vitest'
import { LINK_OPTION_NAMES, type LinkOptions } from '../../src/core/link.js'
import { CHANNEL_OPTION_NAMES, type ChannelOptions } from '../../src/core/options.js'
import { PARENT_OPTION_NAMES, SPAWN_OPTION_NAMES, type ConnectParentOptions, type SpawnChildOptions } from '../../src/node/child.js'
import { CLIENT_OPTION_NAMES, type ClientOptions } from '../../src/node/client.js'
import { SERVER_OPTION_NAMES, type ServerOptions } from '../../src/node/server.js'

test('the names a Channel accepts are the keys of ChannelOptions', () => {
  expectTypeOf<(typeof CHANNEL_OPTION_NAMES)[number]>().toEqualTypeOf<keyof ChannelOptions>()
})

test('the names a Client, a Server and fromStream accept are the keys of their options', () => {
  expectTypeOf<(typeof CLIENT_OPTION_NAMES)[number]>().toEqualTypeOf<keyof ClientOptions>()
  expectTypeOf<(typeof SERVER_OPTION_NAMES)[number]>().toEqualTypeOf<keyof ServerOptions>()
  expectTypeOf<(typeof LINK_OPTION_NAMES)[number]>().toEqualTypeOf<keyof LinkOptions>()
})

test('the names spawnChild and connectParent accept are the keys of their options', () => {
  expectTypeOf<(typeof SPAWN_OPTION_NAMES)[number]>().toEqualTypeOf<keyof SpawnChildOptions>()
  expectTypeOf<(typeof PARENT_OPTION_NAMES)[number]>().toEqualTypeOf<keyof ConnectParentOptions>()
})
