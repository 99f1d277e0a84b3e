import { describe, expect, test } from 'bun:test'
import { backoffDelay, retry } from '../../src/sync/index.ts'

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(`HTTP ${status}`)
  }
}

describe('backoffDelay', () => {
  test('full jitter: uniform in [0, min(max, base * 2^(attempt-1)))', () => {
    expect(backoffDelay(1, 100, 10_000, () => 0.5)).toBe(50)
    expect(backoffDelay(3, 100, 10_000, () => 0.5)).toBe(200)
    expect(backoffDelay(10, 100, 10_000, () => 0.5)).toBe(5_000) // capped at maxMs
    expect(backoffDelay(4, 100, 10_000, () => 0)).toBe(0)
    expect(backoffDelay(4, 100, 10_000, () => 0.999999)).toBe(799)
    for (let i = 0; i < 1_000; i++) {
      const d = backoffDelay(1 + (i % 12), 10, 1_000)
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThan(1_000)
    }
  })
})

describe('retry', () => {
  test('returns the first success and passes 1-based attempt numbers', async () => {
    const seen: number[] = []
    const v = await retry(
      async (n) => {
        seen.push(n)
        if (n < 3) throw new Error(`fail ${n}`)
        return 'ok'
      },
      { attempts: 5, baseMs: 1, random: () => 0 },
    )
    expect(v).toBe('ok')
    expect(seen).toEqual([1, 2, 3])
  })

  test('sleeps exponential backoff with the injected jitter between attempts', async () => {
    const delays: Array<[number, number]> = []
    const err = await retry(async () => Promise.reject(new Error('down')), {
      attempts: 5,
      baseMs: 4,
      maxMs: 20,
      random: () => 0.5,
      onRetry: (_e, attempt, delay) => delays.push([attempt, delay]),
    }).catch((e: unknown) => e)
    expect((err as Error).message).toBe('down')
    expect(delays).toEqual([
      [1, 2],
      [2, 4],
      [3, 8],
      [4, 10], // 4 * 2^3 = 32, capped at 20, half of it
    ])
  })

  test('gives up after `attempts` calls with the last error', async () => {
    let calls = 0
    const err = await retry(
      async () => {
        calls++
        throw new Error(`e${calls}`)
      },
      { attempts: 3, baseMs: 1 },
    ).catch((e: unknown) => e)
    expect(calls).toBe(3)
    expect((err as Error).message).toBe('e3')
  })

  test('stops at once on an error that is not retryable', async () => {
    let calls = 0
    const err = await retry(
      async () => {
        calls++
        throw new HttpError(calls === 1 ? 503 : 400)
      },
      { attempts: 10, baseMs: 1, retryable: (e) => e instanceof HttpError && e.status >= 500 },
    ).catch((e: unknown) => e)
    expect(calls).toBe(2)
    expect((err as HttpError).status).toBe(400)
  })

  test("honours the server's Retry-After instead of the backoff, capped by maxMs", async () => {
    const delays: number[] = []
    let calls = 0
    const v = await retry(
      async () => {
        calls++
        if (calls === 1) throw new HttpError(429, 7)
        if (calls === 2) throw new HttpError(503, 60_000) // absurd: capped
        if (calls === 3) throw new HttpError(503) // no header: backoff
        return calls
      },
      { attempts: 4, baseMs: 8, maxMs: 15, random: () => 0.5, retryAfterMs: (e) => (e as HttpError).retryAfterMs, onRetry: (_e, _a, d) => delays.push(d) },
    )
    expect(v).toBe(4)
    expect(delays).toEqual([7, 15, 7]) // attempt 3 backoff: floor(0.5 * min(15, 8 * 4))
  })

  test('an abort during a sleep rejects at once with the reason', async () => {
    const ctrl = new AbortController()
    let calls = 0
    const started = performance.now()
    const p = retry(
      async () => {
        calls++
        throw new Error('down')
      },
      { attempts: 5, baseMs: 60_000, maxMs: 60_000, random: () => 0.99, signal: ctrl.signal },
    )
    setTimeout(() => ctrl.abort(new Error('request gone')), 10)
    await expect(p).rejects.toThrow('request gone')
    expect(calls).toBe(1)
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  test('an abort while fn runs is not retried', async () => {
    const ctrl = new AbortController()
    let calls = 0
    const err = await retry(
      async () => {
        calls++
        ctrl.abort('stop')
        throw new Error('aborted fetch')
      },
      { attempts: 5, baseMs: 1, signal: ctrl.signal },
    ).catch((e: unknown) => e)
    expect(calls).toBe(1)
    expect((err as Error).message).toBe('aborted fetch')
    await expect(retry(async () => 1, { attempts: 1, baseMs: 1, signal: AbortSignal.abort('pre') })).rejects.toBe('pre')
  })

  test('rejects invalid options', async () => {
    await expect(retry(async () => 1, { attempts: 0, baseMs: 1 })).rejects.toBeInstanceOf(RangeError)
    await expect(retry(async () => 1, { attempts: 1, baseMs: -1 })).rejects.toBeInstanceOf(RangeError)
  })
})

describe('backoffDelay with equal jitter (jobs)', () => {
  test('doubles per attempt: uniform in [c/2, c]', () => {
    expect(backoffDelay(1, 1000, 600_000, () => 0, 'equal')).toBe(500)
    expect(backoffDelay(1, 1000, 600_000, () => 0.999999, 'equal')).toBe(999)
    expect(backoffDelay(3, 1000, 600_000, () => 0, 'equal')).toBe(2000)
    expect(backoffDelay(3, 1000, 600_000, () => 0.5, 'equal')).toBe(3000)
  })

  test('stays within bounds for random attempts and draws, and is capped', () => {
    const cap = 600_000
    for (let i = 0; i < 10_000; i++) {
      const attempt = 1 + Math.floor(Math.random() * 60)
      const base = 1 + Math.floor(Math.random() * 5000)
      const d = backoffDelay(attempt, base, cap, Math.random, 'equal')
      const c = Math.min(cap, base * 2 ** Math.min(attempt - 1, 30))
      expect(d).toBeGreaterThanOrEqual(Math.floor(c / 2))
      expect(d).toBeLessThanOrEqual(c)
    }
    expect(backoffDelay(100, 1000, cap, () => 1, 'equal')).toBe(cap)
  })

  test('jitter spreads jobs that failed together', () => {
    const delays = new Set(Array.from({ length: 100 }, () => backoffDelay(4, 1000, 600_000, Math.random, 'equal')))
    expect(delays.size).toBeGreaterThan(50)
  })
})
