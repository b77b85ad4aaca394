import { describe, expect, test } from 'vitest'
import {
  AbortError,
  AuthenticationError,
  BufferFullError,
  ChannelClosedError,
  IpcError,
  MethodNotFoundError,
  ProtocolError,
  ReferenceReleasedError,
  RemoteError,
  SerializationError,
  TimeoutError,
  isLibraryError,
} from '../../src/protocol/errors.js'
import { errorClassMap, fromEnvelope, toEnvelope, type ErrorClass } from '../../src/protocol/fault.js'
import { Codec } from '../../src/protocol/codec.js'
import { MessageType, type ErrorEnvelope, type ErrorObjectEnvelope } from '../../src/protocol/messages.js'
import * as publicApi from '../../src/index.js'

/** Through the envelope and the real codec, as a thrown value travels from one side to the other. */
function travel(thrown: unknown, classes?: readonly ErrorClass[]): unknown {
  const codec = new Codec()
  const [, , envelope] = codec.decode(codec.encode([MessageType.Error, 1, toEnvelope(thrown)])) as [number, number, unknown]
  return fromEnvelope(envelope, errorClassMap(classes))
}

describe('built-in errors', () => {
  test.each([Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError])(
    '%o comes back as itself and as a RemoteError',
    (Class) => {
      const original = new Class('it broke')
      const back = travel(original) as Error
      expect(back).toBeInstanceOf(Class)
      expect(back).toBeInstanceOf(Error)
      expect(back).toBeInstanceOf(RemoteError)
      expect(Object.getPrototypeOf(back)).toBe(Class.prototype)
      expect(back.name).toBe(Class.name)
      expect(back.message).toBe('it broke')
      expect(back.stack).toBe(original.stack)
    },
  )

  test('a local error is not a RemoteError', () => {
    expect(new TypeError('x')).not.toBeInstanceOf(RemoteError)
    expect(new TimeoutError()).not.toBeInstanceOf(RemoteError)
  })

  test('name, message and stack travel in their own fields and are not enumerable afterwards', () => {
    const back = travel(new TypeError('bad')) as Error
    expect(Object.keys(back)).toEqual([])
    expect(String(back)).toBe('TypeError: bad')
  })

  test('a custom name on a built-in class is kept', () => {
    const error = new Error('nope')
    error.name = 'CustomFailure'
    const back = travel(error) as Error
    expect(back.name).toBe('CustomFailure')
    expect(back).toBeInstanceOf(RemoteError)
  })

  test('an error without a stack gets one naming it', () => {
    const back = fromEnvelope({ type: 'error', name: 'TypeError', message: 'm' }) as Error
    expect(back.stack).toBe('TypeError: m')
  })
})

describe('own properties', () => {
  test('code, errno and custom fields come back as own enumerable properties', () => {
    const error = Object.assign(new Error('ENOENT: no such file'), {
      code: 'ENOENT',
      errno: -2,
      syscall: 'open',
      path: '/nowhere',
      details: { attempts: 3, when: new Date(0), ids: new Set([1, 2]) },
    })
    const back = travel(error) as Record<string, unknown>
    expect(back.code).toBe('ENOENT')
    expect(back.errno).toBe(-2)
    expect(back.syscall).toBe('open')
    expect(back.path).toBe('/nowhere')
    expect(back.details).toEqual({ attempts: 3, when: new Date(0), ids: new Set([1, 2]) })
    expect(Object.keys(back).sort()).toEqual(['code', 'details', 'errno', 'path', 'syscall'])
  })

  test('function and symbol properties are left out', () => {
    const error = Object.assign(new Error('x'), { callback: () => 1, tag: Symbol('t'), kept: 1 })
    expect(toEnvelope(error)).toMatchObject({ props: { kept: 1 } })
    expect((toEnvelope(error) as { props: object }).props).not.toHaveProperty('callback')
    expect((toEnvelope(error) as { props: object }).props).not.toHaveProperty('tag')
  })

  test('with canEncode, values that cannot travel are dropped and the rest kept', () => {
    const codec = new Codec()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const error = Object.assign(new Error('x'), { cyclic, kept: 'yes' })
    const envelope = toEnvelope(error, (value) => codec.canEncode(value))
    expect(envelope).toMatchObject({ type: 'error', props: { kept: 'yes' } })
    expect((envelope as { props: object }).props).not.toHaveProperty('cyclic')
  })

  test('a "__proto__" property from the peer is dropped, never a prototype', () => {
    const props = JSON.parse('{"__proto__": {"polluted": true}, "code": "E"}') as Record<string, unknown>
    const back = fromEnvelope({ type: 'error', name: 'TypeError', message: 'm', props }) as Error
    expect(Object.getPrototypeOf(back)).toBe(TypeError.prototype)
    expect(Object.hasOwn(back, '__proto__')).toBe(false)
    expect((back as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
    expect((back as unknown as { code: string }).code).toBe('E')
  })
})

describe('cause and AggregateError', () => {
  test('the cause chain comes back recursively, each link rebuilt', () => {
    const root = Object.assign(new RangeError('root'), { code: 'E_ROOT' })
    const middle = new TypeError('middle', { cause: root })
    const top = new Error('top', { cause: middle })
    const back = travel(top) as Error
    expect(back.message).toBe('top')
    const backMiddle = back.cause as Error
    expect(backMiddle).toBeInstanceOf(TypeError)
    expect(backMiddle).toBeInstanceOf(RemoteError)
    expect(backMiddle.message).toBe('middle')
    const backRoot = backMiddle.cause as Error & { code: string }
    expect(backRoot).toBeInstanceOf(RangeError)
    expect(backRoot).toBeInstanceOf(RemoteError)
    expect(backRoot.code).toBe('E_ROOT')
    expect(Object.hasOwn(backRoot, 'cause')).toBe(false)
  })

  test('a non-Error cause, and an explicit undefined cause, come back as they were', () => {
    expect((travel(new Error('x', { cause: { reason: 'quota', left: 0 } })) as Error).cause).toEqual({ reason: 'quota', left: 0 })
    expect((travel(new Error('x', { cause: 'text' })) as Error).cause).toBe('text')
    const explicit = travel(new Error('x', { cause: undefined })) as Error
    expect(Object.hasOwn(explicit, 'cause')).toBe(true)
    expect(explicit.cause).toBeUndefined()
    expect(Object.hasOwn(travel(new Error('x')) as Error, 'cause')).toBe(false)
  })

  test('an AggregateError comes back with its errors rebuilt', () => {
    const aggregate = new AggregateError([new TypeError('one'), 'two', Object.assign(new Error('three'), { code: 'E3' })], 'several')
    const back = travel(aggregate) as AggregateError
    expect(back).toBeInstanceOf(AggregateError)
    expect(back).toBeInstanceOf(RemoteError)
    expect(back.message).toBe('several')
    expect(back.errors).toHaveLength(3)
    expect(back.errors[0]).toBeInstanceOf(TypeError)
    expect(back.errors[0]).toBeInstanceOf(RemoteError)
    expect(back.errors[1]).toBe('two')
    expect((back.errors[2] as { code: string }).code).toBe('E3')
  })

  test('a cause cycle terminates on both sides', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    ;(a as { cause?: unknown }).cause = b
    const back = travel(a) as Error
    let depth = 0
    for (let link: unknown = back; link instanceof Error; link = link.cause) depth++
    expect(depth).toBeGreaterThan(2)
    expect(depth).toBeLessThanOrEqual(64)

    const self = new Error('self')
    ;(self as { cause?: unknown }).cause = self
    expect(() => travel(self)).not.toThrow()
  })

  test('a cyclic envelope from the peer terminates', () => {
    const envelope: Record<string, unknown> = { type: 'error', name: 'Error', message: 'loop' }
    envelope.cause = envelope
    const back = fromEnvelope(envelope) as Error
    let depth = 0
    for (let link: unknown = back; link instanceof Error; link = link.cause) depth++
    expect(depth).toBeLessThanOrEqual(64)
  })

  test('an envelope whose errors refer back to it twice is rebuilt with bounded work', () => {
    // CBOR shared references (tags 28/29), which the decoder accepts, let a peer send such a graph in a
    // few bytes; walking it as a tree doubles the work at every level.
    const envelope: Record<string, unknown> = { type: 'error', name: 'AggregateError', message: 'fan' }
    envelope.errors = [envelope, envelope]
    let lookups = 0
    const counting = new (class extends Map<string, ErrorClass> {
      override get(name: string): ErrorClass | undefined {
        if (++lookups > 1000) throw new Error('unbounded: more than 1000 envelopes rebuilt')
        return super.get(name)
      }
    })()
    expect(() => fromEnvelope(envelope, counting)).not.toThrow()
    expect(lookups).toBeLessThanOrEqual(1000)
  })
})

describe('registered classes', () => {
  class QuotaError extends Error {
    override name = 'QuotaError'
    constructor(
      message: string,
      readonly limit: number,
    ) {
      super(message)
    }
  }

  class NamedOnPrototype extends Error {}
  NamedOnPrototype.prototype.name = 'PrototypeName'

  test('a class listed in errors comes back as that class, with its props', () => {
    const back = travel(new QuotaError('over quota', 10), [QuotaError]) as QuotaError
    expect(back).toBeInstanceOf(QuotaError)
    expect(back).toBeInstanceOf(Error)
    expect(back).toBeInstanceOf(RemoteError)
    expect(back.name).toBe('QuotaError')
    expect(back.message).toBe('over quota')
    expect(back.limit).toBe(10)
  })

  test('an unregistered class comes back as a RemoteError carrying the remote name', () => {
    const back = travel(new QuotaError('over quota', 10)) as RemoteError & { limit: number }
    expect(back).toBeInstanceOf(RemoteError)
    expect(back).toBeInstanceOf(IpcError)
    expect(back).not.toBeInstanceOf(QuotaError)
    expect(Object.getPrototypeOf(back)).toBe(RemoteError.prototype)
    expect(back.name).toBe('QuotaError')
    expect(back.message).toBe('over quota')
    expect(back.limit).toBe(10)
    expect(back.code).toBe('ERR_REMOTE')
  })

  test('a remote code property wins over ERR_REMOTE', () => {
    const back = travel(Object.assign(new QuotaError('q', 1), { code: 'E_QUOTA' })) as RemoteError
    expect(back.code).toBe('E_QUOTA')
  })

  test('a class whose name is set on its prototype is found under that name', () => {
    const map = errorClassMap([NamedOnPrototype])!
    expect(map.get('PrototypeName')).toBe(NamedOnPrototype)
    expect(map.get('NamedOnPrototype')).toBe(NamedOnPrototype)
    expect(travel(new NamedOnPrototype('p'), [NamedOnPrototype])).toBeInstanceOf(NamedOnPrototype)
  })

  test('a plain subclass that does not set a name comes back as the registered class', () => {
    class PlainSubclass extends Error {}
    const back = travel(new PlainSubclass('plain'), [PlainSubclass])
    expect(back).toBeInstanceOf(PlainSubclass)
  })

  test('a registered class takes precedence over a built-in of the same name', () => {
    class Error2 extends TypeError {}
    Object.defineProperty(Error2, 'name', { value: 'TypeError' })
    const back = fromEnvelope({ type: 'error', name: 'TypeError', message: 'm' }, errorClassMap([Error2]))
    expect(back).toBeInstanceOf(Error2)
  })

  test('errorClassMap of nothing is undefined', () => {
    expect(errorClassMap(undefined)).toBeUndefined()
    expect(errorClassMap([])).toBeUndefined()
  })
})

describe('names that must not select anything', () => {
  test.each(['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'Object', 'Function', 'Promise', 'prototype', 'IpcError'])(
    'remote name %s is a RemoteError with that name',
    (name) => {
      const back = fromEnvelope({ type: 'error', name, message: 'm' }) as Error
      expect(Object.getPrototypeOf(back)).toBe(RemoteError.prototype)
      expect(back).toBeInstanceOf(RemoteError)
      expect(back.name).toBe(name)
      expect(back.message).toBe('m')
      expect(Object.prototype.toString.call(back)).toBe('[object Error]')
    },
  )

  test('registered classes are not consulted through inherited Map members', () => {
    class Mine extends Error {}
    const map = errorClassMap([Mine])
    for (const name of ['constructor', '__proto__', 'get', 'toString']) {
      expect(Object.getPrototypeOf(fromEnvelope({ type: 'error', name, message: '' }, map))).toBe(RemoteError.prototype)
    }
  })
})

describe('thrown non-Error values', () => {
  test.each([
    ['a string', 'just text'],
    ['an object', { reason: 'nope', n: 1 }],
    ['undefined', undefined],
    ['null', null],
    ['zero', 0],
    ['false', false],
    ['an empty string', ''],
    ['an array', [1, 'two']],
  ])('%s comes back as that value', (_label, value) => {
    expect(toEnvelope(value)).toEqual({ type: 'value', value })
    expect(travel(value)).toEqual(value)
  })

  test('a value that cannot be serialized becomes a SerializationError, with canEncode', () => {
    const codec = new Codec()
    const back = fromEnvelope(
      toEnvelope(
        () => 1,
        (value) => codec.canEncode(value),
      ),
    ) as Error
    expect(back).toBeInstanceOf(SerializationError)
    expect(back).toBeInstanceOf(RemoteError)
    expect(back.message).toMatchInlineSnapshot(`"thrown value cannot be serialized: function (anonymous)"`)
  })

  test('an error from another realm is still treated as an error', () => {
    const foreign = Object.create(null) as { message: string; name: string }
    // Looks like an Error to Object.prototype.toString, as a cross-realm error does.
    Object.defineProperty(foreign, Symbol.toStringTag, { value: 'Error' })
    foreign.name = 'TypeError'
    foreign.message = 'other realm'
    expect(toEnvelope(foreign)).toMatchObject({ type: 'error', name: 'TypeError', message: 'other realm' })
  })
})

describe('malformed envelopes', () => {
  test.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'error'],
    ['a number', 5],
    ['an array', ['error', 'TypeError']],
    ['an unknown type', { type: 'exception', name: 'Error', message: 'm' }],
    ['no type', { name: 'Error', message: 'm' }],
    ['a Map', new Map([['type', 'error']])],
  ])('%s gives a ProtocolError, not a crash', (_label, envelope) => {
    const back = fromEnvelope(envelope)
    expect(back).toBeInstanceOf(ProtocolError)
    expect((back as Error).message).toBe('malformed error envelope')
  })

  test('fields of the wrong type are replaced, not trusted', () => {
    const back = fromEnvelope({ type: 'error', name: 42, message: { x: 1 }, stack: 7, props: 'nope', errors: 'nope' }) as Error
    expect(back).toBeInstanceOf(Error)
    expect(back.name).toBe('Error')
    expect(back.message).toBe('')
    expect(back.stack).toBe('Error: ')
    expect(Object.hasOwn(back, 'errors')).toBe(false)
  })

  test('a malformed cause becomes a ProtocolError in the chain', () => {
    const back = fromEnvelope({ type: 'error', name: 'Error', message: 'm', cause: 'not an envelope' }) as Error
    expect(back.cause).toBeInstanceOf(ProtocolError)
  })

  test('a thrown-value envelope without a value is undefined', () => {
    expect(fromEnvelope({ type: 'value' })).toBeUndefined()
  })
})

describe('library errors', () => {
  const all = [
    () => new IpcError('m', 'ERR_TEST'),
    () => new ChannelClosedError(),
    () => new TimeoutError(),
    () => new AbortError(),
    () => new AuthenticationError(),
    () => new MethodNotFoundError('someMethod'),
    () => new ProtocolError(),
    () => new SerializationError(),
    () => new BufferFullError(),
    () => new ReferenceReleasedError(),
    () => new RemoteError('m'),
  ]

  test('every error class of the public API has its stable code', () => {
    // Found from the exports, so that a new class cannot be added without a code in this snapshot.
    const classes = (Object.values(publicApi) as unknown[]).filter(
      (value): value is new (message: string) => IpcError => typeof value === 'function' && value.prototype instanceof IpcError,
    )
    const codes = Object.fromEntries(classes.map((Class) => [Class.name, new Class('m').code]).sort())
    expect(codes).toMatchInlineSnapshot(`
      {
        "AbortError": "ABORT_ERR",
        "AuthenticationError": "ERR_AUTHENTICATION",
        "BufferFullError": "ERR_BUFFER_FULL",
        "ChannelClosedError": "ERR_CHANNEL_CLOSED",
        "MethodNotFoundError": "ERR_METHOD_NOT_FOUND",
        "ProtocolError": "ERR_PROTOCOL",
        "ReferenceReleasedError": "ERR_REFERENCE_RELEASED",
        "RemoteError": "ERR_REMOTE",
        "SerializationError": "ERR_SERIALIZATION",
        "TimeoutError": "ERR_TIMEOUT",
      }
    `)
  })

  test('every class extends IpcError and Error, and names itself', () => {
    for (const make of all) {
      const error = make()
      expect(error).toBeInstanceOf(IpcError)
      expect(error).toBeInstanceOf(Error)
      expect(error.name).toBe(error.constructor.name)
      expect(typeof error.code).toBe('string')
      expect(error.stack).toContain(error.name)
    }
  })

  test('default messages, and MethodNotFoundError names the method', () => {
    expect(all.slice(1).map((make) => `${make().name}: ${make().message}`)).toMatchInlineSnapshot(`
      [
        "ChannelClosedError: channel closed",
        "TimeoutError: timed out",
        "AbortError: the call was aborted",
        "AuthenticationError: authentication failed",
        "MethodNotFoundError: method not found: "someMethod"",
        "ProtocolError: protocol error",
        "SerializationError: value cannot be serialized",
        "BufferFullError: the outgoing buffer is full",
        "ReferenceReleasedError: the reference was released",
        "RemoteError: m",
      ]
    `)
    expect(new MethodNotFoundError('someMethod').method).toBe('someMethod')
  })

  test('cause is set when given', () => {
    const cause = new Error('underlying')
    expect(new ChannelClosedError('closed', { cause }).cause).toBe(cause)
  })

  test('errors are made where thrown: each has its own stack', () => {
    expect(new TimeoutError()).not.toBe(new TimeoutError())
  })

  test('library errors come back from the peer as their own class, with their code', () => {
    const back = travel(new MethodNotFoundError('gone')) as MethodNotFoundError
    expect(back).toBeInstanceOf(MethodNotFoundError)
    expect(back).toBeInstanceOf(IpcError)
    expect(back).toBeInstanceOf(RemoteError)
    expect(back.method).toBe('gone')
    expect(back.code).toBe('ERR_METHOD_NOT_FOUND')
    expect(back.message).toBe('method not found: "gone"')
    for (const Class of [ChannelClosedError, TimeoutError, AbortError, AuthenticationError, ProtocolError, SerializationError, BufferFullError]) {
      const rebuilt = travel(new Class('remote text')) as IpcError
      expect(rebuilt).toBeInstanceOf(Class)
      expect(rebuilt).toBeInstanceOf(RemoteError)
      expect(rebuilt.message).toBe('remote text')
      expect(rebuilt.code).toBe(new Class().code)
    }
  })

  test('instanceof holds across two copies of the package through the Symbol.for brand', () => {
    // What another copy of the package makes: a different class, the same registered symbols.
    const brand = Symbol.for('ipc-channel.error-classes')
    const remoteMark = Symbol.for('ipc-channel.remote-error')
    const foreignTimeout = Object.defineProperty(new Error('late'), brand, { value: ['TimeoutError', 'IpcError'] })
    expect(foreignTimeout).toBeInstanceOf(TimeoutError)
    expect(foreignTimeout).toBeInstanceOf(IpcError)
    expect(foreignTimeout).not.toBeInstanceOf(ChannelClosedError)
    expect(foreignTimeout).not.toBeInstanceOf(RemoteError)

    const foreignRemote = Object.defineProperty(new Error('far'), remoteMark, { value: true })
    expect(foreignRemote).toBeInstanceOf(RemoteError)

    // And our errors carry the same brand, so the other copy recognises them.
    const ours = new ChannelClosedError() as unknown as Record<symbol, unknown>
    expect(ours[brand]).toEqual(['ChannelClosedError', 'IpcError'])
    expect(Object.keys(ours)).not.toContain(brand)
  })

  test('non-objects and unbranded errors are not instances', () => {
    for (const value of [null, undefined, 'TimeoutError', 1, {}, new Error('plain')]) {
      expect(value).not.toBeInstanceOf(TimeoutError)
      expect(value).not.toBeInstanceOf(IpcError)
      expect(value).not.toBeInstanceOf(RemoteError)
    }
  })
})

describe('toEnvelope', () => {
  test('shape of an error envelope', () => {
    const error = Object.assign(new TypeError('bad', { cause: 'why' }), { code: 'E' })
    error.stack = 'TypeError: bad\n    at somewhere'
    expect(toEnvelope(error)).toMatchInlineSnapshot(`
      {
        "cause": {
          "type": "value",
          "value": "why",
        },
        "message": "bad",
        "name": "TypeError",
        "props": {
          "code": "E",
        },
        "stack": "TypeError: bad
          at somewhere",
        "type": "error",
      }
    `)
  })

  test('an envelope is plain data that the codec carries', () => {
    const envelope: ErrorEnvelope = toEnvelope(new AggregateError([new Error('a', { cause: 1n })], 'agg'))
    const codec = new Codec()
    expect(() => codec.encode([MessageType.Error, 1, envelope])).not.toThrow()
  })
})

describe('hostile envelope props', () => {
  /** Member names of an error that a received prop must not replace: reserved fields, then inherited members. */
  const hostileNames = [
    'name',
    'message',
    'stack',
    'cause',
    'errors',
    'toString',
    'constructor',
    '__proto__',
    'valueOf',
    'toJSON',
    'then',
    'hasOwnProperty',
    'toLocaleString',
    'isPrototypeOf',
    'propertyIsEnumerable',
  ]
  /** The values a peer would put there: each of the wrong type for what it shadows. */
  const hostileProps = (): Record<string, unknown> => {
    const props = Object.create(null) as Record<string, unknown>
    for (const [i, key] of hostileNames.entries()) props[key] = i % 2 === 0 ? { evil: i } : i
    props.code = 'E_KEPT'
    props.detail = 'kept too'
    return props
  }

  test.each([
    ['a built-in class', 'TypeError', undefined],
    ['an unknown class (RemoteError)', 'QuotaError', undefined],
    ['a library class', 'TimeoutError', undefined],
    ['MethodNotFoundError', 'MethodNotFoundError', undefined],
  ])('on %s, reserved and inherited names are dropped; the rest is kept', (_label, name) => {
    const back = fromEnvelope({ type: 'error', name, message: 'm', stack: `${name}: m\n    at far`, props: hostileProps() }) as Error &
      Record<string, unknown>
    expect(String(back)).toBe(`${name}: m`)
    expect(back.name).toBe(name)
    expect(back.message).toBe('m')
    expect(back.stack).toBe(`${name}: m\n    at far`)
    expect(typeof back.toString).toBe('function')
    expect(typeof back.valueOf).toBe('function')
    expect(typeof back.constructor).toBe('function')
    expect(back.then).toBeUndefined()
    expect(back.toJSON).toBeUndefined()
    expect(Object.hasOwn(back, 'cause')).toBe(false)
    expect(Object.hasOwn(back, 'errors')).toBe(false)
    expect(Object.hasOwn(back, '__proto__')).toBe(false)
    expect(() => JSON.stringify(back)).not.toThrow()
    expect(() => `${back}`).not.toThrow()
    expect(back.code).toBe('E_KEPT')
    expect(back.detail).toBe('kept too')
    expect(Object.keys(back).sort()).toEqual(name === 'MethodNotFoundError' ? ['code', 'detail', 'method'] : ['code', 'detail'])
  })

  test('a registered class keeps its own methods and accessors: props of those names are dropped', () => {
    class Quota extends Error {
      override name = 'Quota'
      describe(): string {
        return `quota: ${this.message}`
      }
      get level(): string {
        return 'high'
      }
    }
    const back = fromEnvelope(
      { type: 'error', name: 'Quota', message: 'full', props: { describe: 'not a function', level: 7, limit: 3 } },
      errorClassMap([Quota]),
    ) as Quota & { limit: number }
    expect(back).toBeInstanceOf(Quota)
    expect(back.describe()).toBe('quota: full')
    expect(back.level).toBe('high')
    expect(back.limit).toBe(3)
  })

  test('a non-text method of a MethodNotFoundError does not throw while rebuilding', () => {
    const back = fromEnvelope({ type: 'error', name: 'MethodNotFoundError', message: 'm', props: { method: { toString: 1 } } }) as MethodNotFoundError
    expect(back).toBeInstanceOf(MethodNotFoundError)
    expect(back.method).toBe('')
  })

  test('fields the constructor set keep their type: a code or method that is not text is dropped', () => {
    const remote = fromEnvelope({ type: 'error', name: 'Quota', message: 'm', props: { code: { x: 1 } } }) as RemoteError
    expect(remote.code).toBe('ERR_REMOTE')
    const missing = fromEnvelope({ type: 'error', name: 'MethodNotFoundError', message: 'm', props: { method: 5, code: 6 } }) as MethodNotFoundError
    expect(missing.method).toBe('')
    expect(missing.code).toBe('ERR_METHOD_NOT_FOUND')
    const builtIn = fromEnvelope({ type: 'error', name: 'TypeError', message: 'm', props: { code: { x: 1 } } }) as TypeError & { code: unknown }
    expect(builtIn.code).toEqual({ x: 1 })
  })

  test('name, message and stack of the wrong type become text; props cannot put them back', () => {
    const back = fromEnvelope({ type: 'error', name: { x: 1 }, message: 7, stack: ['s'], props: { name: 1, message: 2, stack: 3 } }) as Error
    expect(back.name).toBe('Error')
    expect(back.message).toBe('')
    expect(back.stack).toBe('Error: ')
    expect(String(back)).toBe('Error')
  })

  test('an error travelling through the codec with such props comes back printable', () => {
    const error = new Error('x')
    for (const key of ['toString', 'name', 'stack', 'constructor', 'valueOf', 'then']) {
      Object.defineProperty(error, key, { value: 1, enumerable: true, writable: true, configurable: true })
    }
    const back = travel(error) as Error
    expect(() => String(back)).not.toThrow()
    expect(typeof back.name).toBe('string')
    expect(typeof back.stack).toBe('string')
  })
})

describe('stacks on the wire', () => {
  const libraryErrors = [
    () => new IpcError('m', 'ERR_TEST'),
    () => new ChannelClosedError(),
    () => new TimeoutError(),
    () => new AbortError(),
    () => new AuthenticationError(),
    () => new MethodNotFoundError('someMethod'),
    () => new ProtocolError(),
    () => new SerializationError(),
    () => new BufferFullError(),
  ]

  test.each(libraryErrors.map((make) => [make().name, make] as const))('a %s this library made carries no stack', (_name, make) => {
    const envelope = toEnvelope(make()) as ErrorObjectEnvelope
    expect(envelope.type).toBe('error')
    expect(envelope).not.toHaveProperty('stack')
    expect(isLibraryError(make())).toBe(true)
  })

  test('nor does one made by another copy of the package (recognised by its brand)', () => {
    const foreign = Object.defineProperty(new Error('late'), Symbol.for('ipc-channel.error-classes'), { value: ['TimeoutError', 'IpcError'] })
    expect(isLibraryError(foreign)).toBe(true)
    expect(toEnvelope(foreign)).not.toHaveProperty('stack')
  })

  test('application errors keep theirs: built-ins, own classes, subclasses of library classes, RemoteError', () => {
    class MyTimeout extends TimeoutError {}
    const remote = fromEnvelope({ type: 'error', name: 'Quota', message: 'm', stack: 'Quota: m\n    at far' }) as Error
    for (const error of [new TypeError('t'), new (class Custom extends Error {})('c'), new MyTimeout('mine'), remote]) {
      expect(isLibraryError(error)).toBe(false)
      expect((toEnvelope(error) as ErrorObjectEnvelope).stack).toBe(error.stack)
    }
  })

  test('each level of a cause chain is judged on its own', () => {
    const application = new TypeError('app')
    const wrapped = new SerializationError('could not send', { cause: application })
    const top = new Error('top', { cause: wrapped })
    const envelope = toEnvelope(top) as ErrorObjectEnvelope
    expect(envelope.stack).toBe(top.stack)
    const middle = envelope.cause as ErrorObjectEnvelope
    expect(middle.name).toBe('SerializationError')
    expect(middle).not.toHaveProperty('stack')
    expect((middle.cause as ErrorObjectEnvelope).stack).toBe(application.stack)
  })

  test('a thrown value that cannot be encoded becomes a SerializationError without a stack', () => {
    const codec = new Codec()
    const envelope = toEnvelope(Symbol('s'), (value) => codec.canEncode(value)) as ErrorObjectEnvelope
    expect(envelope.name).toBe('SerializationError')
    expect(envelope).not.toHaveProperty('stack')
  })

  test('with stacks: false no level carries one', () => {
    const aggregate = new AggregateError([new RangeError('r', { cause: new Error('deep') })], 'agg', { cause: new TypeError('c') })
    const envelope = toEnvelope(aggregate, undefined, { stacks: false })
    expect(JSON.stringify(envelope)).not.toContain('"stack"')
    expect(envelope).toMatchObject({
      name: 'AggregateError',
      errors: [{ name: 'RangeError', cause: { name: 'Error' } }],
      cause: { name: 'TypeError' },
    })
    expect((toEnvelope(aggregate, undefined, { stacks: true }) as ErrorObjectEnvelope).stack).toBe(aggregate.stack)
  })

  test('the receiver of a library error sees a stack naming it, not the sender’s', () => {
    const back = travel(new MethodNotFoundError('gone')) as Error
    expect(back.stack).toBe('MethodNotFoundError: method not found: "gone"')
  })
})
