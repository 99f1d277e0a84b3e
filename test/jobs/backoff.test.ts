import { describe, expect, test } from 'bun:test'
import { backoffDelay, MAX_BACKOFF_MS } from '../../src/jobs/backoff.ts'

describe('backoffDelay', () => {
  test('doubles per attempt with equal jitter: uniform in [c/2, c]', () => {
    expect(backoffDelay(1, 1000, () => 0)).toBe(500)
    expect(backoffDelay(1, 1000, () => 0.999999)).toBe(999)
    expect(backoffDelay(3, 1000, () => 0)).toBe(2000)
    expect(backoffDelay(3, 1000, () => 0.5)).toBe(3000)
  })

  test('stays within bounds for random attempts and draws, and is capped', () => {
    for (let i = 0; i < 10_000; i++) {
      const attempt = 1 + Math.floor(Math.random() * 60)
      const base = 1 + Math.floor(Math.random() * 5000)
      const d = backoffDelay(attempt, base)
      const c = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.min(attempt - 1, 30))
      expect(d).toBeGreaterThanOrEqual(Math.floor(c / 2))
      expect(d).toBeLessThanOrEqual(c)
    }
    expect(backoffDelay(100, 1000, () => 1)).toBe(MAX_BACKOFF_MS)
  })

  test('jitter spreads jobs that failed together', () => {
    const delays = new Set(Array.from({ length: 100 }, () => backoffDelay(4, 1000)))
    expect(delays.size).toBeGreaterThan(50)
  })
})
