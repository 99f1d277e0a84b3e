import { describe, expect, test } from 'bun:test'
import { TokenBucket } from '../../src/sync/index.ts'
import { rng } from './rand.ts'

describe('TokenBucket', () => {
  test('starts full: admits a burst, then refuses', () => {
    let t = 0
    const b = new TokenBucket(10, 5, () => t)
    for (let i = 0; i < 5; i++) expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
    expect(b.remaining).toBe(0)
  })

  test('refills at the rate and never above the burst', () => {
    let t = 0
    const b = new TokenBucket(10, 5, () => t) // one token per 100 ms
    for (let i = 0; i < 5; i++) b.take()
    t = 99
    expect(b.take()).toBe(false)
    t = 100
    expect(b.take()).toBe(true)
    t = 100_000
    expect(b.remaining).toBe(5)
    expect(b.resetMs()).toBe(0)
  })

  test('retryAfterMs and resetMs tell when tokens come back', () => {
    let t = 0
    const b = new TokenBucket(4, 2, () => t) // one token per 250 ms
    b.take(2)
    expect(b.retryAfterMs()).toBe(250)
    expect(b.retryAfterMs(2)).toBe(500)
    expect(b.resetMs()).toBe(500)
    t = 125
    expect(b.retryAfterMs()).toBe(125)
    expect(b.retryAfterMs(3)).toBe(Infinity) // more than the bucket can hold
    t = 250
    expect(b.retryAfterMs()).toBe(0)
  })

  test('takes n tokens at once, all or nothing', () => {
    let t = 0
    const b = new TokenBucket(1, 10, () => t)
    expect(b.take(7)).toBe(true)
    expect(b.take(4)).toBe(false)
    expect(b.remaining).toBe(3)
    expect(b.take(3)).toBe(true)
  })

  test('a clock that steps back grants nothing and takes nothing', () => {
    let t = 1_000
    const b = new TokenBucket(10, 3, () => t)
    b.take(3)
    t = 0
    expect(b.remaining).toBe(0)
    t = 100
    expect(b.remaining).toBe(1) // measured from the last reading, not the first
  })

  test('rejects a non-positive rate or a burst below 1', () => {
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError)
    expect(() => new TokenBucket(1, 0.5)).toThrow(RangeError)
    expect(() => new TokenBucket(Number.NaN, 1)).toThrow(RangeError)
  })

  test('over random traffic, admitted <= burst + rate * elapsed and refusals are justified', () => {
    for (const seed of [1, 2, 3, 4]) {
      const random = rng(seed)
      let t = 0
      const rate = 1 + random() * 500
      const burst = 3 + Math.floor(random() * 50)
      const b = new TokenBucket(rate, burst, () => t)
      let admitted = 0
      for (let i = 0; i < 20_000; i++) {
        t += random() * (1_000 / rate)
        const n = 1 + Math.floor(random() * 3)
        if (b.take(n)) admitted += n
        else expect(b.retryAfterMs(n)).toBeGreaterThan(0)
        expect(admitted).toBeLessThanOrEqual(burst + (rate * t) / 1000 + 1e-6)
      }
      // Demand is ~2x the refill on average, so the limiter must have admitted close to the rate.
      expect(admitted).toBeGreaterThan(0.8 * ((rate * t) / 1000))
    }
  })

  test('an explicit `now` replaces the clock read', () => {
    let reads = 0
    const b = new TokenBucket(10, 1, () => {
      reads++
      return 0
    })
    expect(reads).toBe(1) // the constructor's
    expect(b.take(1, 0)).toBe(true)
    expect(b.take(1, 50)).toBe(false)
    expect(b.retryAfterMs(1, 50)).toBe(50)
    expect(b.take(1, 100)).toBe(true)
    expect(b.resetMs(100)).toBe(100)
    expect(reads).toBe(1)
  })

  test('uses the real clock by default', async () => {
    const b = new TokenBucket(1_000, 1)
    expect(b.take()).toBe(true)
    await Bun.sleep(10)
    expect(b.take()).toBe(true)
  })
})
