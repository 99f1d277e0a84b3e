/**
 * The batch fan-out (src/routes/fan-out.ts) on its own, with plain async functions as items: the
 * routes' own tests (batch.test.ts, messages.test.ts) run it over the real pool and a fake LLM.
 */
import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { MAX_BATCH_RESERVE_MS, batchReserveMs, itemError, runBatch, type BatchOptions } from '../../src/routes/fan-out.ts'

const open = (over: Partial<BatchOptions> = {}): BatchOptions => ({ limit: 4, signal: undefined, remainingMs: () => Infinity, reserveMs: 0, ...over })

describe('runBatch', () => {
  test('one outcome per item in input order, whatever order they finish in; a failure stays in its slot', async () => {
    const outcomes = await runBatch([30, 10, 20, -1], async (ms) => {
      if (ms < 0) throw new AppError('invalid_input', 'negative', { details: [{ path: '/ms', message: 'negative' }] })
      await Bun.sleep(ms)
      return ms * 2
    }, open())
    expect(outcomes).toEqual([
      { ok: true, value: 60 },
      { ok: true, value: 20 },
      { ok: true, value: 40 },
      { ok: false, error: { code: 'invalid_input', message: 'negative', details: [{ path: '/ms', message: 'negative' }] } },
    ])
  })

  test('at most `limit` items run at once', async () => {
    let now = 0
    let max = 0
    await runBatch(Array.from({ length: 20 }, (_, i) => i), async () => {
      max = Math.max(max, ++now)
      await Bun.sleep(2)
      now--
    }, open({ limit: 3 }))
    expect(max).toBe(3)
  })

  test('each item is bounded by what is left of the deadline minus the reserve; inside the reserve it is not run', async () => {
    let left = 1000
    const seen: Array<number | undefined> = []
    const outcomes = await runBatch([1, 2, 3], async (_item, { timeoutMs }) => {
      seen.push(timeoutMs)
      left -= 450
      return 'ran'
    }, open({ limit: 1, remainingMs: () => left, reserveMs: 100 }))
    expect(seen).toEqual([900, 450])
    expect(outcomes[2]).toMatchObject({ ok: false, error: { code: 'deadline_exceeded' } })
  })

  test('without a deadline an item gets no bound at all', async () => {
    const outcomes = await runBatch(['x'], async (_item, { timeoutMs }) => timeoutMs, open({ reserveMs: 250 }))
    expect(outcomes).toEqual([{ ok: true, value: undefined }])
  })

  test('an abort of the request rejects with its reason: queued items never run, running ones see their signal abort', async () => {
    const ac = new AbortController()
    let started = 0
    let aborted = 0
    const done = runBatch(Array.from({ length: 10 }, (_, i) => i), (_item, { signal }) => {
      started++
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => { aborted++; reject(signal.reason) }, { once: true }))
    }, open({ limit: 2, signal: ac.signal }))
    setTimeout(() => ac.abort(new Error('client went away')), 20)
    await expect(done).rejects.toThrow('client went away')
    expect(started).toBe(2)
    expect(aborted).toBe(2)
  })
})

describe('itemError', () => {
  test("an AppError keeps its code, message and details; anything else is 'internal' with nothing of its message", () => {
    expect(itemError(new AppError('task_timeout', 'slow'))).toEqual({ code: 'task_timeout', message: 'slow' })
    expect(itemError(new AppError('invalid_input', 'bad', { details: [{ path: '/at', message: 'bad' }] }))).toEqual({ code: 'invalid_input', message: 'bad', details: [{ path: '/at', message: 'bad' }] })
    expect(itemError(new Error('secret path /etc/x'))).toEqual({ code: 'internal', message: 'Internal error' })
    expect(itemError('a string')).toEqual({ code: 'internal', message: 'Internal error' })
  })
})

describe('batchReserveMs', () => {
  test('10 % of the deadline, at most MAX_BATCH_RESERVE_MS; none without a deadline', () => {
    expect(batchReserveMs(600)).toBe(60)
    expect(batchReserveMs(1001)).toBe(101)
    expect(batchReserveMs(30_000)).toBe(MAX_BATCH_RESERVE_MS)
    expect(MAX_BATCH_RESERVE_MS).toBe(250)
    expect(batchReserveMs(Infinity)).toBe(0)
  })
})
