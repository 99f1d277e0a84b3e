import { describe, expect, test } from 'bun:test'
import { RestartBackoff } from '../../src/pool/restarts.ts'

describe('RestartBackoff', () => {
  test('a worker that was ready is replaced at once while crashes are rare', () => {
    const b = new RestartBackoff(2)
    expect([b.next(true, 0), b.next(true, 2000), b.next(true, 4000)]).toEqual([0, 0, 0])
  })

  test('a crash loop backs off: past 2 x workers crashes in a second, 25 ms per recent crash, at most 1 s', () => {
    const b = new RestartBackoff(2)
    const delays = Array.from({ length: 60 }, (_, i) => b.next(true, i * 10))
    expect(delays.slice(0, 4)).toEqual([0, 0, 0, 0])
    expect(delays[4]).toBe(125) // the fifth crash within a second
    expect(Math.max(...delays)).toBe(1000)
    expect(b.next(true, 10_000)).toBe(0) // a second later the window is empty again
  })

  test('workers that never get ready back off exponentially up to 30 s, and one start resets it', () => {
    const b = new RestartBackoff(1)
    const delays = Array.from({ length: 12 }, (_, i) => b.next(false, i * 60_000))
    expect(delays.slice(0, 4)).toEqual([100, 200, 400, 800])
    expect(delays[11]).toBe(30_000)
    expect(b.next(true, 1e9)).toBe(0)
  })
})
