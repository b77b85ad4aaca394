import { lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { ipcPath, resolveAddress } from '../../src/node/ipc-path.js'

const isWindows = process.platform === 'win32'
const uidTag = typeof process.getuid === 'function' ? String(process.getuid()) : undefined

describe('resolveAddress', () => {
  test.each([
    ['/tmp/app.sock', 'linux'],
    ['/var/run/user/1000/app.sock', 'darwin'],
    ['relative/app.sock', 'linux'],
    ['app.sock', 'freebsd'],
  ] as const)('%s on %s is a Unix socket path', (address, platform) => {
    expect(resolveAddress(address, platform)).toEqual({ kind: 'unix', path: address })
  })

  test.each([
    ['tcp://localhost:8080', 'localhost', 8080],
    ['tcp://127.0.0.1:0', '127.0.0.1', 0],
    ['tcp://example.com:65535', 'example.com', 65535],
    ['tcp://[::1]:9000', '::1', 9000],
    ['tcp://[fe80::1%eth0]:1', 'fe80::1%eth0', 1],
    ['tcp://host:80/', 'host', 80],
  ])('%s is TCP to %s port %d', (address, host, port) => {
    expect(resolveAddress(address, 'linux')).toEqual({ kind: 'tcp', host, port })
    // The same on Windows: tcp:// is never mapped to a pipe.
    expect(resolveAddress(address, 'win32')).toEqual({ kind: 'tcp', host, port })
  })

  test.each([
    'tcp://host:65536',
    'tcp://host:99999',
    'tcp://host:123456',
    'tcp://host:-1',
    'tcp://host:port',
    'tcp://host:',
    'tcp://host',
    'tcp://:80',
    'tcp://::1:80',
    'tcp://[::1]',
    'tcp://host:80/path',
  ])('%s is rejected with a TypeError', (address) => {
    expect(() => resolveAddress(address, 'linux')).toThrow(TypeError)
  })

  test('the error names the bad address', () => {
    expect(() => resolveAddress('tcp://host', 'linux')).toThrowErrorMatchingInlineSnapshot(
      `[TypeError: invalid tcp address "tcp://host": expected tcp://host:port]`,
    )
    expect(() => resolveAddress('tcp://host:70000', 'linux')).toThrowErrorMatchingInlineSnapshot(
      `[TypeError: invalid tcp port in "tcp://host:70000"]`,
    )
  })

  test.each([
    ['\\\\.\\pipe\\my-app', 'linux'],
    ['\\\\.\\pipe\\my-app', 'win32'],
    ['\\\\?\\pipe\\my-app', 'win32'],
    ['\\\\.\\PIPE\\Mixed.Case', 'win32'],
    ['\\\\.\\pipe\\nested\\name', 'darwin'],
  ] as const)('%s on %s is a named pipe, kept as given', (address, platform) => {
    expect(resolveAddress(address, platform)).toEqual({ kind: 'pipe', path: address })
  })

  test.each([
    ['myapp', '\\\\.\\pipe\\myapp'],
    ['my-app.sock', '\\\\.\\pipe\\my-app.sock'],
    ['/tmp/app.sock', '\\\\.\\pipe\\tmp-app.sock'],
    ['C:\\Users\\me\\app.sock', '\\\\.\\pipe\\Users-me-app.sock'],
    ['c:/Users/me/app.sock', '\\\\.\\pipe\\Users-me-app.sock'],
    ['relative\\dir//app', '\\\\.\\pipe\\relative-dir-app'],
  ])('on win32, %s maps to the pipe %s', (address, pipe) => {
    expect(resolveAddress(address, 'win32')).toEqual({ kind: 'pipe', path: pipe })
  })

  test.each(['/', 'C:\\', 'c:', '\\\\'])('on win32, %s names no pipe and is rejected', (address) => {
    expect(() => resolveAddress(address, 'win32')).toThrow(TypeError)
  })

  test('an empty or non-string address is rejected', () => {
    expect(() => resolveAddress('', 'linux')).toThrow(TypeError)
    expect(() => resolveAddress(undefined as unknown as string, 'linux')).toThrow(TypeError)
    expect(() => resolveAddress(42 as unknown as string, 'linux')).toThrow(TypeError)
  })

  test('defaults to the current platform', () => {
    expect(resolveAddress('some-name')).toEqual(resolveAddress('some-name', process.platform))
  })
})

describe('ipcPath on Windows (computed on any OS)', () => {
  test('is a named pipe that includes a per-user tag and the name', () => {
    const path = ipcPath('demo', 'win32')
    expect(path).toMatch(/^\\\\\.\\pipe\\ipc-channel-[\w.-]+-demo$/)
    expect(resolveAddress(path, 'win32')).toEqual({ kind: 'pipe', path })
  })

  test('differs by name and is stable for one name', () => {
    expect(ipcPath('a', 'win32')).toBe(ipcPath('a', 'win32'))
    expect(ipcPath('a', 'win32')).not.toBe(ipcPath('b', 'win32'))
  })
})

describe('ipcPath name validation', () => {
  test.each(['', 'a/b', '../escape', 'a\\b', 'has space', 'x'.repeat(65), 'nul\0', 'ünï', 'a:b'])('rejects %j', (name) => {
    expect(() => ipcPath(name, 'win32')).toThrow(TypeError)
    expect(() => ipcPath(name, 'linux')).toThrow(TypeError)
  })

  test('accepts letters, digits, _ . - up to 64 characters', () => {
    for (const name of ['a', 'demo', 'my_app.v2-test', 'x'.repeat(64)]) {
      expect(() => ipcPath(name, 'win32')).not.toThrow()
    }
  })

  test('the error says what is allowed', () => {
    expect(() => ipcPath('a/b', 'win32')).toThrowErrorMatchingInlineSnapshot(
      `[TypeError: ipcPath name must be 1-64 characters of letters, digits, '_', '.', '-': "a/b"]`,
    )
  })
})

describe.skipIf(isWindows)('ipcPath on Unix', () => {
  let scratch: string

  beforeEach(() => {
    scratch = realpathSync(mkdtempSync(join(tmpdir(), 'ipc-path-test-')))
    vi.stubEnv('TMPDIR', scratch)
  })

  afterEach(() => {
    vi.unstubAllEnvs()
    rmSync(scratch, { recursive: true, force: true })
  })

  test('is a .sock file in a private per-user directory under the temporary directory', () => {
    expect(tmpdir()).toBe(scratch)
    const path = ipcPath('demo', 'linux')
    expect(basename(path)).toBe('demo.sock')
    expect(dirname(dirname(path))).toBe(scratch)
    expect(basename(dirname(path))).toBe(`ipc-channel-${uidTag}`)
    expect(resolveAddress(path, 'linux')).toEqual({ kind: 'unix', path })
    const stats = lstatSync(dirname(path))
    expect(stats.isDirectory()).toBe(true)
    expect(stats.mode & 0o777).toBe(0o700)
    if (uidTag !== undefined) expect(String(stats.uid)).toBe(uidTag)
  })

  test('does not create the socket file itself', () => {
    const path = ipcPath('demo', 'linux')
    expect(() => statSync(path)).toThrow(/ENOENT/)
  })

  test('tightens an existing directory to 0700', () => {
    const dir = join(scratch, `ipc-channel-${uidTag}`)
    mkdirSync(dir, { mode: 0o755 })
    const path = ipcPath('demo', 'linux')
    expect(dirname(path)).toBe(dir)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
  })

  test('refuses a directory that is a symbolic link', () => {
    const target = join(scratch, 'elsewhere')
    mkdirSync(target, { mode: 0o700 })
    symlinkSync(target, join(scratch, `ipc-channel-${uidTag}`))
    expect(() => ipcPath('demo', 'linux')).toThrow(/not a directory/)
  })

  test.each([
    ['linux', 107],
    ['darwin', 103],
  ] as const)('stays within the %s socket path limit (%d bytes)', (platform, limit) => {
    const path = ipcPath('x'.repeat(64), platform)
    expect(Buffer.byteLength(path)).toBeLessThanOrEqual(limit)
  })

  test('falls back to /tmp when the temporary directory path is too long', () => {
    const deep = join(scratch, 'd'.repeat(60), 'e'.repeat(60))
    mkdirSync(deep, { recursive: true })
    vi.stubEnv('TMPDIR', deep)
    const path = ipcPath('demo', 'darwin')
    expect(path).toBe(`/tmp/ipc-channel-${uidTag}/demo.sock`)
    expect(Buffer.byteLength(path)).toBeLessThanOrEqual(103)
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700)
    // /tmp/ipc-channel-<uid> is the shared default location: it is left in place.
  })

  test('a short temporary directory is used as it is, even for a long name', () => {
    const path = ipcPath('n'.repeat(60), 'linux')
    expect(path.startsWith(scratch)).toBe(Buffer.byteLength(join(scratch, `ipc-channel-${uidTag}`, `${'n'.repeat(60)}.sock`)) <= 107)
  })
})
