/**
 * `GET /jobs` on BullMQ: BullMQ keeps one sorted set (or list) per state and pages each by
 * **offset**; it has no index by task. So, unlike bun:sqlite's keyset paging by id (oldest first
 * over all states), a page here walks BullMQ's states in lifecycle order (waiting, prioritized,
 * delayed, waiting-children, active, completed, failed), each oldest first as BullMQ orders it,
 * and the cursor is an opaque `<state index>.<offset>`. `task=` filters what is read; a page
 * stops after reading {@link MAX_SCAN} jobs and then may hold fewer than `limit` (follow
 * nextCursor). Jobs that change state between two pages can be seen twice or not at all.
 * docs/jobs.md#many-hosts documents this.
 *
 * @example
 * ```ts
 * const page = await listJobs(queue, { state: 'queued', limit: 50 })
 * const next = await listJobs(queue, { state: 'queued', limit: 50, cursor: page.nextCursor })
 * ```
 */
import type { Queue } from 'bullmq'
import { AppError } from '../../errors.ts'
import type { JobState } from '../model.ts'
import type { ListPage, ListQuery } from '../store.ts'
import { fromBull, QUEUED_TYPES, type BullRecord, type BullState } from './mapping.ts'

/** The BullMQ states a list reads. */
type ListedState = Exclude<BullState, 'unknown'>

/** BullMQ's states in the order a list walks them. */
const TYPES: readonly ListedState[] = [...QUEUED_TYPES, 'active', 'completed', 'failed']

/** The BullMQ states holding jobs of each highperf state (a canceled job is failed, or flagged while queued). */
const TYPES_OF: Record<JobState, readonly ListedState[]> = {
  queued: QUEUED_TYPES,
  running: ['active'],
  succeeded: ['completed'],
  failed: ['failed'],
  canceled: [...QUEUED_TYPES, 'active', 'completed', 'failed'],
}

/** Jobs one page reads at most before it answers (with fewer than `limit` when `task=` filters). */
export const MAX_SCAN = 5000

const CURSOR = /^(\d{1,2})\.(\d{1,9})$/

/** Throws `validation_failed` for a cursor {@link listJobs} never hands out. @example checkCursor('0.50') */
export function checkCursor(cursor: string): void {
  const m = CURSOR.exec(cursor)
  if (!m || Number(m[1]) >= TYPES.length) {
    throw new AppError('validation_failed', 'cursor is not a nextCursor of GET /jobs (with JOBS_URL it is <state>.<offset>)', { details: [{ path: '/cursor', message: 'not a cursor' }] })
  }
}

/** Due times of delayed jobs by id (connection.ts `delayedUntil`, bound to the queue). */
export type DelayedUntil = (ids: readonly string[]) => Promise<Map<string, number>>

/** One page of jobs (see the module comment); `delayedUntil` gives delayed jobs their `runAt` (mapping.ts runAtOf). */
export async function listJobs(queue: Queue, q: ListQuery, delayedUntil?: DelayedUntil): Promise<ListPage> {
  const types = q.state ? TYPES_OF[q.state] : TYPES
  let t = 0
  let offset = 0
  if (q.cursor !== undefined) {
    checkCursor(q.cursor)
    const [a, b] = q.cursor.split('.')
    t = Number(a)
    offset = Number(b)
  }
  const jobs: ListPage['jobs'] = []
  let scanned = 0
  const window = Math.min(1000, Math.max(q.limit, 100))
  for (; t < TYPES.length; t++, offset = 0) {
    const type = TYPES[t]!
    if (!types.includes(type)) continue
    for (;;) {
      const batch = (await queue.getJobs([type], offset, offset + window - 1, true)) as unknown as BullRecord[]
      if (batch.length === 0) break
      const due = type === 'delayed' && delayedUntil ? await delayedUntil(batch.map((r) => r.id ?? '')) : undefined
      for (const rec of batch) {
        offset++
        scanned++
        const job = fromBull(rec, type, due?.get(rec.id ?? ''))
        if ((q.state === undefined || job.state === q.state) && (q.task === undefined || job.task === q.task)) jobs.push(job)
        if (jobs.length === q.limit || scanned >= MAX_SCAN) return { jobs, nextCursor: `${t}.${offset}` }
      }
      if (batch.length < window) break
    }
  }
  return { jobs }
}
