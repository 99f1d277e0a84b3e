import { describe, expect, test } from 'bun:test'
import { createExecutor } from '../../src/tasks/execute.ts'
import { PRIMES_MAX_N, countPrimesBelow, primes } from '../../src/tasks/primes.ts'
import type { TaskDefinition } from '../../src/tasks/types.ts'
import { AppError } from '../../src/errors.ts'
import { testContext } from './support.ts'

function naiveCount(n: number): number {
  let c = 0
  for (let k = 2; k < n; k++) {
    let prime = true
    for (let d = 2; d * d <= k; d++) if (k % d === 0) { prime = false; break }
    if (prime) c++
  }
  return c
}

describe('primes task', () => {
  test('known counts, including segment boundaries', () => {
    const known: Array<[number, number]> = [[0, 0], [1, 0], [2, 0], [3, 1], [4, 2], [10, 4], [100, 25], [1000, 168], [1_000_000, 78_498], [10_000_000, 664_579]]
    for (const [n, count] of known) expect(countPrimesBelow(n)).toBe(count)
    // 32768 is the segment size: check around one and two segments against trial division.
    for (const n of [32_767, 32_768, 32_769, 32_770, 65_536, 65_537, 65_538]) expect(countPrimesBelow(n)).toBe(naiveCount(n))
  })

  test('random n agree with trial division', () => {
    for (let i = 0; i < 40; i++) {
      const n = Math.floor(Math.random() * 120_000)
      expect(countPrimesBelow(n)).toBe(naiveCount(n))
    }
  })

  test('an aborted signal stops a large count with the signal reason', () => {
    const ac = new AbortController()
    ac.abort(new AppError('client_closed', 'gone'))
    expect(() => countPrimesBelow(PRIMES_MAX_N, ac.signal)).toThrow('gone')
  })

  test('the task validates n: negative, fractional or above the maximum is invalid_input', () => {
    const exec = createExecutor([primes as TaskDefinition])
    expect(exec.run('primes', '{"n":100}', testContext())).toEqual({ n: 100, count: 25 })
    for (const bad of ['{"n":-1}', '{"n":1.5}', `{"n":${PRIMES_MAX_N + 1}}`, '{"n":"100"}', '{}']) {
      let caught: unknown
      try { exec.run('primes', bad, testContext()) } catch (e) { caught = e }
      expect((caught as AppError).code).toBe('invalid_input')
    }
  })
})
