import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { type BreakerState, CircuitBreaker, sleep } from '../../src/sync/index.ts'
import { flush, rng } from './rand.ts'

function breaker(threshold = 3, openMs = 1_000) {
  const clock = { t: 0 }
  const changes: BreakerState[] = []
  const b = new CircuitBreaker({ failureThreshold: threshold, openDurationMs: openMs, now: () => clock.t, onStateChange: (s) => changes.push(s) })
  return { b, clock, changes }
}

describe('CircuitBreaker', () => {
  test('closed lets everything through; consecutive failures at the threshold open it', () => {
    const { b, changes } = breaker(3)
    expect(b.state).toBe('closed')
    expect(b.allow()).toBe(true)
    b.failure()
    b.failure()
    expect(b.state).toBe('closed')
    b.failure()
    expect(b.state).toBe('open')
    expect(b.allow()).toBe(false)
    expect(changes).toEqual(['open'])
  })

  test('a success resets the consecutive count', () => {
    const { b } = breaker(3)
    b.failure()
    b.failure()
    b.success()
    b.failure()
    b.failure()
    expect(b.state).toBe('closed')
    expect(b.failures).toBe(2)
  })

  test('open refuses until openDuration passes, then exactly one probe goes through', () => {
    const { b, clock, changes } = breaker(1, 1_000)
    b.failure()
    clock.t = 999
    expect(b.allow()).toBe(false)
    expect(b.retryAfterMs()).toBe(1)
    clock.t = 1_000
    expect(b.allow()).toBe(true)
    expect(b.state).toBe('half_open')
    expect(b.allow()).toBe(false)
    expect(b.allow()).toBe(false)
    expect(changes).toEqual(['open', 'half_open'])
  })

  test('a good probe closes the breaker', () => {
    const { b, clock, changes } = breaker(1, 100)
    b.failure()
    clock.t = 100
    expect(b.allow()).toBe(true)
    b.success()
    expect(b.state).toBe('closed')
    expect(b.allow()).toBe(true)
    expect(b.allow()).toBe(true)
    expect(changes).toEqual(['open', 'half_open', 'closed'])
  })

  test('a failed probe re-opens it for another full openDuration', () => {
    const { b, clock, changes } = breaker(5, 100)
    for (let i = 0; i < 5; i++) b.failure()
    clock.t = 150
    expect(b.allow()).toBe(true)
    b.failure() // one failure suffices in half_open
    expect(b.state).toBe('open')
    expect(b.retryAfterMs()).toBe(100)
    clock.t = 249
    expect(b.allow()).toBe(false)
    clock.t = 250
    expect(b.allow()).toBe(true)
    expect(changes).toEqual(['open', 'half_open', 'open', 'half_open'])
  })

  test('a probe that never reports is presumed lost after openDuration', () => {
    const { b, clock } = breaker(1, 100)
    b.failure()
    clock.t = 100
    expect(b.allow()).toBe(true) // this probe is lost
    clock.t = 150
    expect(b.allow()).toBe(false)
    expect(b.retryAfterMs()).toBe(50)
    clock.t = 200
    expect(b.allow()).toBe(true)
    expect(b.allow()).toBe(false)
  })

  test('abandon frees the probe slot without changing the state', () => {
    const { b, clock } = breaker(1, 100)
    b.failure()
    clock.t = 100
    expect(b.allow()).toBe(true)
    b.abandon()
    expect(b.state).toBe('half_open')
    expect(b.retryAfterMs()).toBe(0)
    expect(b.allow()).toBe(true)
    expect(b.allow()).toBe(false)
  })

  test('results reported while open (from calls admitted earlier) are ignored', () => {
    const { b, clock } = breaker(1, 100)
    b.failure()
    b.success()
    expect(b.state).toBe('open')
    b.failure()
    clock.t = 100
    expect(b.allow()).toBe(true) // the late failure did not extend the open period
  })

  test('execute refuses with circuit_open and a Retry-After without calling fn', async () => {
    const { b, clock } = breaker(2, 2_500)
    const fail = () => Promise.reject(new Error('upstream down'))
    await expect(b.execute(fail)).rejects.toThrow('upstream down')
    await expect(b.execute(fail)).rejects.toThrow('upstream down')
    let called = false
    clock.t = 400
    const err = await b.execute(async () => (called = true)).catch((e: unknown) => e)
    expect(called).toBe(false)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('circuit_open')
    expect((err as AppError).status).toBe(503)
    expect((err as AppError).retryAfter).toBe(3) // 2.1 s left, rounded up to whole seconds
    clock.t = 2_500
    expect(await b.execute(async () => 'ok')).toBe('ok')
    expect(b.state).toBe('closed')
  })

  test('exactly one half-open probe runs among many concurrent executes', async () => {
    for (let round = 0; round < 20; round++) {
      const { b, clock } = breaker(1, 100)
      await b.execute(() => Promise.reject(new Error('x'))).catch(() => {})
      clock.t = 100
      let running = 0
      let calls = 0
      const outcomes = await Promise.all(
        Array.from({ length: 200 }, () =>
          b
            .execute(async () => {
              calls++
              running++
              await sleep(1)
              running--
              return 'probe'
            })
            .catch((e: unknown) => (e as AppError).code),
        ),
      )
      expect(calls).toBe(1)
      expect(outcomes.filter((o) => o === 'probe').length).toBe(1)
      expect(outcomes.filter((o) => o === 'circuit_open').length).toBe(199)
      expect(b.state).toBe('closed')
    }
  })

  test('isFailure makes some errors neutral: they neither open nor close the breaker', async () => {
    const clock = { t: 0 }
    const b = new CircuitBreaker({ failureThreshold: 1, openDurationMs: 100, now: () => clock.t, isFailure: (e) => !(e instanceof DOMException) })
    const abortErr = new DOMException('client left', 'AbortError')
    await expect(b.execute(() => Promise.reject(abortErr))).rejects.toBe(abortErr)
    expect(b.state).toBe('closed')
    await expect(b.execute(() => Promise.reject(new Error('5xx')))).rejects.toThrow()
    clock.t = 100
    await expect(b.execute(() => Promise.reject(abortErr))).rejects.toBe(abortErr)
    expect(b.state).toBe('half_open')
    expect(b.allow()).toBe(true) // the neutral probe freed its slot
  })

  test('rejects invalid options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0, openDurationMs: 1 })).toThrow(RangeError)
    expect(() => new CircuitBreaker({ failureThreshold: 1, openDurationMs: 0 })).toThrow(RangeError)
  })

  test('random allow/success/failure/time sequences follow the state machine model', async () => {
    const random = rng(2024)
    const threshold = 4
    const openMs = 50
    const { b, clock } = breaker(threshold, openMs)
    // Reference model, written independently of the implementation.
    let state: BreakerState = 'closed'
    let fails = 0
    let openedAt = 0
    let probeOut = false
    let probeAt = 0
    for (let i = 0; i < 20_000; i++) {
      const r = random()
      if (r < 0.2) clock.t += Math.floor(random() * 30)
      else if (r < 0.6) {
        let expected: boolean
        if (state === 'closed') expected = true
        else if (state === 'open') {
          expected = clock.t - openedAt >= openMs
          if (expected) {
            state = 'half_open'
            probeOut = true
            probeAt = clock.t
          }
        } else {
          expected = !probeOut || clock.t - probeAt >= openMs
          if (expected) {
            probeOut = true
            probeAt = clock.t
          }
        }
        expect(b.allow()).toBe(expected)
      } else if (r < 0.8) {
        b.success()
        if (state !== 'open') {
          fails = 0
          if (state === 'half_open') {
            state = 'closed'
            probeOut = false
          }
        }
      } else {
        b.failure()
        if (state === 'closed' && ++fails >= threshold) {
          state = 'open'
          openedAt = clock.t
          fails = 0
        } else if (state === 'half_open') {
          state = 'open'
          openedAt = clock.t
          probeOut = false
        }
      }
      expect(b.state).toBe(state)
      if (i % 1000 === 0) await flush()
    }
  })
})
