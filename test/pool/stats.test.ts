import { expect, test } from 'bun:test'
import { Histogram } from '../../src/pool/stats.ts'

test('percentiles land within one log bucket (≤ 25 %) above the true value', () => {
  const h = new Histogram()
  for (let i = 1; i <= 10_000; i++) h.record(i) // 1 µs .. 10 ms, uniform
  const p50 = h.percentileMs(0.5)
  const p99 = h.percentileMs(0.99)
  expect(p50).toBeGreaterThanOrEqual(5)
  expect(p50).toBeLessThanOrEqual(5 * 1.25)
  expect(p99).toBeGreaterThanOrEqual(9.9)
  expect(p99).toBeLessThanOrEqual(9.9 * 1.25)
  expect(h.count).toBe(10_000)
})

test('an empty histogram reports zeros; extreme values are clamped, not lost', () => {
  const h = new Histogram()
  expect(h.summary()).toEqual({ p50: 0, p90: 0, p99: 0 })
  h.record(0)
  h.record(-5)
  h.record(1e12)
  expect(h.count).toBe(3)
  expect(h.percentileMs(1)).toBeGreaterThan(1000)
})
