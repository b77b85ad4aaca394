import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { TimeoutError } from '../../src/core/errors.js'
import { Heartbeat, type HeartbeatPorts } from '../../src/core/heartbeat.js'

/** Ports that record the tokens pinged and the errors the heartbeat gave up with. */
function recordingPorts() {
  const pings: number[] = []
  const silences: TimeoutError[] = []
  const ports: HeartbeatPorts = {
    ping: (token) => {
      pings.push(token)
    },
    silent: (error) => {
      silences.push(error)
    },
  }
  return { ports, pings, silences }
}

beforeEach(() => {
  vi.useFakeTimers()
})

afterEach(() => {
  vi.useRealTimers()
})

describe('Heartbeat', () => {
  test('pings every interval with tokens 1, 2, 3, ...', () => {
    const { ports, pings, silences } = recordingPorts()
    const heartbeat = new Heartbeat(100, 10_000, ports)
    vi.advanceTimersByTime(99)
    expect(pings).toEqual([])
    vi.advanceTimersByTime(1)
    expect(pings).toEqual([1])
    vi.advanceTimersByTime(250)
    expect(pings).toEqual([1, 2, 3])
    expect(silences).toEqual([])
    heartbeat.stop()
  })

  test('gives up once, with TimeoutError, when nothing was heard for the timeout', () => {
    const { ports, pings, silences } = recordingPorts()
    new Heartbeat(100, 300, ports)
    vi.advanceTimersByTime(299)
    expect(pings).toEqual([1, 2])
    expect(silences).toEqual([])
    vi.advanceTimersByTime(1)
    expect(silences).toHaveLength(1)
    expect(silences[0]).toBeInstanceOf(TimeoutError)
    expect(silences[0].message).toBe('the peer sent nothing for 300 ms (heartbeat timeout 300 ms)')
    // No ping on the tick that gives up, and nothing after it: the timer is gone.
    expect(pings).toEqual([1, 2])
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(10_000)
    expect(silences).toHaveLength(1)
    expect(pings).toEqual([1, 2])
  })

  test('detects silence on the first tick at or after the timeout', () => {
    const { ports, silences } = recordingPorts()
    new Heartbeat(100, 250, ports)
    vi.advanceTimersByTime(299)
    expect(silences).toEqual([])
    vi.advanceTimersByTime(1)
    expect(silences[0].message).toBe('the peer sent nothing for 300 ms (heartbeat timeout 250 ms)')
  })

  test('heard = true postpones the verdict to a timeout after the tick that saw it', () => {
    const { ports, pings, silences } = recordingPorts()
    const heartbeat = new Heartbeat(100, 300, ports)
    vi.advanceTimersByTime(250)
    heartbeat.heard = true
    vi.advanceTimersByTime(50)
    // The tick at 300 saw it: alive at 300, and the flag is taken down.
    expect(heartbeat.heard).toBe(false)
    expect(pings).toEqual([1, 2, 3])
    vi.advanceTimersByTime(299)
    expect(silences).toEqual([])
    expect(pings).toEqual([1, 2, 3, 4, 5])
    vi.advanceTimersByTime(1)
    expect(silences).toHaveLength(1)
    expect(silences[0].message).toBe('the peer sent nothing for 300 ms (heartbeat timeout 300 ms)')
  })

  test('a peer heard on every tick is never given up on', () => {
    const { ports, pings, silences } = recordingPorts()
    const heartbeat = new Heartbeat(100, 150, ports)
    for (let tick = 0; tick < 50; tick++) {
      heartbeat.heard = true
      vi.advanceTimersByTime(100)
    }
    expect(silences).toEqual([])
    expect(pings).toHaveLength(50)
    expect(pings.at(-1)).toBe(50)
    heartbeat.stop()
  })

  test('stop() stops pinging and watching, and may be called again', () => {
    const { ports, pings, silences } = recordingPorts()
    const heartbeat = new Heartbeat(100, 300, ports)
    vi.advanceTimersByTime(100)
    heartbeat.stop()
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(10_000)
    expect(pings).toEqual([1])
    expect(silences).toEqual([])
    expect(() => heartbeat.stop()).not.toThrow()
  })

  test('its timer does not keep the process alive', () => {
    const setInterval = vi.spyOn(globalThis, 'setInterval')
    const heartbeat = new Heartbeat(100, 300, recordingPorts().ports)
    const timer = setInterval.mock.results[0].value as { hasRef(): boolean }
    expect(timer.hasRef()).toBe(false)
    heartbeat.stop()
  })
})
