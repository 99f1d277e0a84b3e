// highperf jobs <-> BullMQ: priorities keep their order, keys map to stable job ids, errors travel as `code: message`.
import { expect, test } from 'bun:test'
import { isJobId } from '../../../src/jobs/ids.ts'
import { bullPriority, errorOf, keyJobId, reasonOf, runAtOf, stateOf } from '../../../src/jobs/bullmq/mapping.ts'

test('every highperf priority maps to a BullMQ priority in the same order (1 runs first)', () => {
  expect(bullPriority(1000)).toBe(1)
  expect(bullPriority(0)).toBe(1001)
  expect(bullPriority(-1000)).toBe(2001)
  for (let p = -1000; p < 1000; p += 37) expect(bullPriority(p)).toBeGreaterThan(bullPriority(p + 1))
})

test('an Idempotency-Key maps to one job id, a UUID the routes accept; another key to another id', () => {
  expect(keyJobId('order-42')).toBe(keyJobId('order-42'))
  expect(keyJobId('order-42')).not.toBe(keyJobId('order-43'))
  expect(isJobId(keyJobId('order-42'))).toBe(true)
  expect(keyJobId('order-42')[14]).toBe('5')
})

test('an error travels through failedReason and back; unknown codes become task_failed; stalls are worker_crashed', () => {
  expect(errorOf(reasonOf({ code: 'task_timeout', message: 'took: too long' }))).toEqual({ code: 'task_timeout', message: 'took: too long' })
  expect(errorOf('boom: it broke')).toEqual({ code: 'task_failed', message: 'boom: it broke' })
  expect(errorOf('job stalled more than allowable limit').code).toBe('worker_crashed')
})

test('a cancel flag wins over any BullMQ state; job_canceled failures read as canceled', () => {
  expect(stateOf({ data: { canceledAt: 1 } as never }, 'completed')).toBe('canceled')
  expect(stateOf({ data: {} as never, failedReason: 'job_canceled: The job was canceled' }, 'failed')).toBe('canceled')
  expect(stateOf({ data: {} as never, failedReason: 'task_failed: x' }, 'failed')).toBe('failed')
  expect(stateOf({ data: {} as never }, 'prioritized')).toBe('queued')
  expect(stateOf({ data: {} as never }, 'active')).toBe('running')
})

test("runAt: BullMQ's due time while it holds the job delayed; else the stored one, never after the start", () => {
  const rec = { data: { runAt: 10_000 } as never, timestamp: 1000 }
  // Rescheduled (changeDelay) or waiting for a retry: only BullMQ's delayed set knows the new time.
  expect(runAtOf(rec, 'delayed', 4000)).toBe(4000)
  expect(runAtOf(rec, 'delayed', 90_000)).toBe(90_000)
  // Released (the time gone from BullMQ) or not known: the stored one.
  expect(runAtOf(rec, 'delayed')).toBe(10_000)
  expect(runAtOf(rec, 'waiting', 4000)).toBe(10_000)
  // Started before it (moved earlier, or promoted): the start.
  expect(runAtOf({ ...rec, processedOn: 4100 }, 'completed')).toBe(4100)
  expect(runAtOf({ ...rec, processedOn: 12_000 }, 'active')).toBe(10_000)
  // A canceled delayed job is promoted only to be failed: its start is no due time.
  expect(runAtOf({ data: { runAt: 10_000, canceledAt: 4000 } as never, timestamp: 1000, processedOn: 4100 }, 'failed')).toBe(10_000)
})
