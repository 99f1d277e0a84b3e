import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { sleep, withTimeout } from '../../src/sync/index.ts'

describe('withTimeout', () => {
  test('returns the value when fn finishes in time, and fn sees a live signal', async () => {
    let seen: AbortSignal | undefined
    const v = await withTimeout(async (signal) => {
      seen = signal
      return 42
    }, 1_000)
    expect(v).toBe(42)
    expect(seen?.aborted).toBe(false)
  })

  test('on expiry rejects with deadline_exceeded and aborts fn with the same error', async () => {
    let reason: unknown
    const p = withTimeout(
      (signal) =>
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => {
            reason = signal.reason
            reject(signal.reason)
          }),
        ),
      10,
    )
    const err = await p.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('deadline_exceeded')
    expect((err as AppError).status).toBe(504)
    expect(reason).toBe(err)
  })

  test('rejects at the deadline even when fn ignores its signal', async () => {
    const started = performance.now()
    const err = await withTimeout(() => sleep(2_000), 10, { error: () => new AppError('task_timeout') }).catch((e: unknown) => e)
    expect((err as AppError).code).toBe('task_timeout')
    expect(performance.now() - started).toBeLessThan(1_500)
  })

  test('a parent abort aborts fn and rejects with the parent reason', async () => {
    const parent = new AbortController()
    let aborted = false
    const p = withTimeout(
      (signal) =>
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted = true
            reject(signal.reason)
          }),
        ),
      10_000,
      { signal: parent.signal },
    )
    parent.abort('client closed')
    await expect(p).rejects.toBe('client closed')
    expect(aborted).toBe(true)
  })

  test('an already-aborted parent rejects without calling fn', async () => {
    let called = false
    await expect(withTimeout(async () => void (called = true), 100, { signal: AbortSignal.abort('gone') })).rejects.toBe('gone')
    expect(called).toBe(false)
  })

  test("fn's own error passes through unchanged, synchronous throws included", async () => {
    await expect(withTimeout(async () => Promise.reject(new Error('own')), 1_000)).rejects.toThrow('own')
    await expect(
      withTimeout(() => {
        throw new Error('sync')
      }, 1_000),
    ).rejects.toThrow('sync')
  })

  test('a deadline after the result is harmless (the timer was cleared)', async () => {
    const parent = new AbortController()
    expect(await withTimeout(async () => 'fast', 5, { signal: parent.signal })).toBe('fast')
    await sleep(15)
    parent.abort() // the listener was removed: nothing fires
  })

  test('many concurrent deadlines: each call either finishes or times out, never both', async () => {
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        withTimeout((signal) => sleep(i % 2 === 0 ? 0 : 50, signal).then(() => 'ok'), 15).then(
          (v) => v,
          (e: unknown) => (e instanceof AppError ? e.code : 'other'),
        ),
      ),
    )
    results.forEach((r, i) => expect(r).toBe(i % 2 === 0 ? 'ok' : 'deadline_exceeded'))
  })
})

describe('sleep', () => {
  test('resolves after the delay', async () => {
    const t = performance.now()
    await sleep(10)
    expect(performance.now() - t).toBeGreaterThanOrEqual(8)
  })

  test('an abort rejects at once with the reason', async () => {
    const ctrl = new AbortController()
    const t = performance.now()
    const p = sleep(10_000, ctrl.signal)
    setTimeout(() => ctrl.abort('wake'), 5)
    await expect(p).rejects.toBe('wake')
    expect(performance.now() - t).toBeLessThan(2_000)
    await expect(sleep(1, AbortSignal.abort('pre'))).rejects.toBe('pre')
  })
})

describe('timer limits', () => {
  test('Infinity means no deadline, not a 1 ms one (a bare setTimeout would fire at once)', async () => {
    const ctrl = new AbortController()
    let settled = false
    const p = sleep(Infinity, ctrl.signal).catch(() => (settled = true))
    const w = withTimeout((signal) => sleep(20, signal).then(() => 'ok'), Infinity)
    const huge = withTimeout((signal) => sleep(20, signal).then(() => 'ok'), 2 ** 40)
    expect(await w).toBe('ok')
    expect(await huge).toBe('ok')
    expect(settled).toBe(false)
    ctrl.abort()
    await p
    expect(settled).toBe(true)
  })
})
