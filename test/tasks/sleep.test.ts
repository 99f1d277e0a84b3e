import { describe, expect, test } from 'bun:test'
import { createExecutor } from '../../src/tasks/execute.ts'
import { SLEEP_MAX_MS, sleep, sleepTask } from '../../src/tasks/sleep.ts'
import type { TaskDefinition } from '../../src/tasks/types.ts'
import { AppError } from '../../src/errors.ts'
import { testContext } from './support.ts'

describe('sleep task', () => {
  test('waits about ms and reports progress in steps up to 100', async () => {
    const ctx = testContext()
    const t0 = performance.now()
    expect(await sleepTask(120, 4, ctx)).toEqual({ slept: 120 })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110)
    expect(ctx.reports.map(([pct]) => pct)).toEqual([25, 50, 75, 100])
    expect(ctx.reports[3]?.[1]).toBe('slept 120 of 120 ms')
  })

  test('an abort mid-way rejects at once with the reason and stops reporting', async () => {
    const ac = new AbortController()
    const ctx = testContext(ac.signal)
    const t0 = performance.now()
    const p = sleepTask(10_000, 100, ctx)
    setTimeout(() => ac.abort(new AppError('client_closed', 'canceled by test')), 30)
    await expect(p).rejects.toThrow('canceled by test')
    expect(performance.now() - t0).toBeLessThan(5_000)
    const seen = ctx.reports.length
    await Bun.sleep(250)
    expect(ctx.reports.length).toBe(seen)
  })

  test('an already aborted signal rejects without waiting', async () => {
    const ac = new AbortController()
    ac.abort(new Error('before'))
    await expect(sleepTask(60_000, 1, testContext(ac.signal))).rejects.toThrow('before')
  })

  test('bounds: ms above the maximum or steps of 0 are invalid_input', () => {
    const exec = createExecutor([sleep as TaskDefinition])
    for (const bad of [{ ms: SLEEP_MAX_MS + 1 }, { ms: 10, steps: 0 }, { ms: -1 }]) {
      let caught: unknown
      try { exec.run('sleep', JSON.stringify(bad), testContext()) } catch (e) { caught = e }
      expect((caught as AppError).code).toBe('invalid_input')
    }
  })
})
