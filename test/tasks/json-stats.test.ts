import { describe, expect, test } from 'bun:test'
import { createExecutor } from '../../src/tasks/execute.ts'
import { JSON_STATS_MAX_ITEMS, jsonStats, jsonStatsTask } from '../../src/tasks/json-stats.ts'
import type { TaskDefinition } from '../../src/tasks/types.ts'
import { AppError } from '../../src/errors.ts'
import { testContext } from './support.ts'

function nearestRank(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] as number
}

describe('json.stats task', () => {
  test('the documented example', () => {
    expect(jsonStats([{ ms: 3 }, { ms: 1 }, { ms: 2 }], 'ms')).toEqual({ field: 'ms', count: 3, skipped: 0, min: 1, max: 3, mean: 2, p50: 2, p90: 3, p99: 3 })
  })

  test('random data agrees with a plain sort-based reference', () => {
    for (let i = 0; i < 30; i++) {
      const n = 1 + Math.floor(Math.random() * 3000)
      const values = Array.from({ length: n }, () => (Math.random() - 0.3) * 10 ** Math.floor(Math.random() * 6))
      const r = jsonStats(values.map((v) => ({ v })), 'v')
      expect(r.count).toBe(n)
      expect(r.min).toBe(Math.min(...values))
      expect(r.max).toBe(Math.max(...values))
      expect(r.mean as number).toBeCloseTo(values.reduce((a, b) => a + b, 0) / n, 6)
      for (const p of [50, 90, 99] as const) expect(r[`p${p}`]).toBe(nearestRank(values, p))
    }
  })

  test('dotted paths; missing, non-numeric and non-finite values are skipped, not failed', () => {
    const items = [{ a: { b: 1 } }, { a: { b: '2' } }, { a: null }, {}, { a: { b: 5 } }, { a: { b: null } }]
    expect(jsonStats(items, 'a.b')).toMatchObject({ count: 2, skipped: 4, min: 1, max: 5, mean: 3 })
    // An inherited property is not a field of the item.
    expect(jsonStats([{ a: 1 }], 'constructor').count).toBe(0)
  })

  test('no numeric values: count 0 and null statistics', () => {
    expect(jsonStats([], 'x')).toEqual({ field: 'x', count: 0, skipped: 0, min: null, max: null, mean: null, p50: null, p90: null, p99: null })
  })

  test('the schema bounds the input: an array of objects, a field, at most the item limit', () => {
    const exec = createExecutor([jsonStatsTask as TaskDefinition])
    const codeOf = (input: string) => {
      try { exec.run('json.stats', input, testContext()); return 'ok' } catch (e) { return (e as AppError).code }
    }
    expect(codeOf('{"field":"x","items":[{"x":1}]}')).toBe('ok')
    expect(codeOf('{"field":"x","items":[1,2]}')).toBe('invalid_input')
    expect(codeOf('{"field":"","items":[]}')).toBe('invalid_input')
    expect(codeOf('{"items":[]}')).toBe('invalid_input')
    expect(codeOf(JSON.stringify({ field: 'x', items: Array.from({ length: JSON_STATS_MAX_ITEMS + 1 }, () => ({})) }))).toBe('invalid_input')
  })
})
