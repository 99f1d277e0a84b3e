import { describe, expect, test } from 'bun:test'
import { RequestSeries } from '../../src/metrics/series.ts'

describe('RequestSeries', () => {
  test('one entry per (method, route, status), counting and summing durations', () => {
    const s = new RequestSeries([0.01, 0.1, 1])
    s.record('GET', '/users/:id', 200, 0.005)
    s.record('GET', '/users/:id', 200, 0.05)
    s.record('GET', '/users/:id', 404, 0.001)
    s.record('POST', '/users/:id', 200, 2)
    const entries = [...s.entries()]
    expect(entries).toHaveLength(3)
    const ok = entries.find((e) => e.labels.method === 'GET' && e.labels.status === '200')!
    expect(ok.count).toBe(2)
    expect(ok.sum).toBeCloseTo(0.055, 10)
    expect([...ok.buckets]).toEqual([1, 1, 0, 0])
    const slow = entries.find((e) => e.labels.method === 'POST')!
    expect([...slow.buckets]).toEqual([0, 0, 0, 1]) // above every bound: the +Inf slot
  })

  test('a duration equal to a bound falls in that bucket (le is inclusive)', () => {
    const s = new RequestSeries([0.01, 0.1])
    s.record('GET', '/a', 200, 0.01)
    expect([...[...s.entries()][0]!.buckets]).toEqual([1, 0, 0])
  })

  test('non-standard methods collapse to OTHER so cardinality stays bounded', () => {
    const s = new RequestSeries([1])
    for (const m of ['PROPFIND', 'MKCOL', 'BREW', 'get']) s.record(m, '/x', 200, 0.001)
    const entries = [...s.entries()]
    expect(entries).toHaveLength(1)
    expect(entries[0]!.labels.method).toBe('OTHER')
    expect(entries[0]!.count).toBe(4)
  })

  test('the same entry object is reused: no allocation after the first request of a series', () => {
    const s = new RequestSeries([1])
    s.record('GET', '/x', 200, 0.001)
    const first = [...s.entries()][0]
    for (let i = 0; i < 1000; i++) s.record('GET', '/x', 200, 0.001)
    const again = [...s.entries()]
    expect(again).toHaveLength(1)
    expect(again[0]).toBe(first!)
    expect(again[0]!.count).toBe(1001)
  })

  test('random traffic: totals and bucket sums agree with what was recorded', () => {
    const s = new RequestSeries([0.001, 0.01, 0.1, 1])
    const routes = ['/a', '/b/:id', 'unmatched']
    const methods = ['GET', 'POST', 'DELETE']
    const statuses = [200, 201, 404, 429, 500, 503]
    const expected = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) {
      const r = routes[i % routes.length]!, m = methods[(i * 7) % methods.length]!, st = statuses[(i * 13) % statuses.length]!
      s.record(m, r, st, Math.random() * 2)
      const k = `${m} ${r} ${st}`
      expected.set(k, (expected.get(k) ?? 0) + 1)
    }
    let total = 0
    for (const e of s.entries()) {
      expect(e.count).toBe(expected.get(`${e.labels.method} ${e.labels.route} ${e.labels.status}`)!)
      expect(e.buckets.reduce((a, b) => a + b, 0)).toBe(e.count)
      total += e.count
    }
    expect(total).toBe(20_000)
    s.reset()
    expect([...s.entries()]).toHaveLength(0)
  })
})
