/**
 * highperf jobs <-> BullMQ 6 jobs: what a job's BullMQ data holds, its options (priority, delay,
 * attempts, retention), how a BullMQ state and record read back as a highperf {@link Job}, and how
 * an error travels through BullMQ's `failedReason` (one string: `code: message`).
 *
 * Why these choices (docs/jobs.md#many-hosts, research scaleout.md §2.1):
 * - every job gets a BullMQ priority, `1001 - p` (BullMQ: 1 first; a job without one would run
 *   before every prioritized job), so highperf's −1000..1000, higher first, keeps its order;
 * - an Idempotency-Key becomes the job id (a UUIDv5-shaped hash of the key): BullMQ keeps one job
 *   per id for as long as the job is kept, exactly the lifetime of a key on bun:sqlite;
 * - a cancel is a flag in the data (`canceledAt`): readable from every node at once, kept with the
 *   record, and the processor fails a flagged job with `job_canceled` without running it;
 * - `runAt` is BullMQ's own due time while BullMQ holds the job delayed (see {@link runAtOf}): a
 *   retry's backoff and a reschedule from the dashboard (`changeDelay`) move it there, not in our data.
 *
 * @example
 * ```ts
 * const { name, data, opts } = toBull(newJob({ task: 'echo', input: '{}' }, Date.now()), { ttlMs: 86_400_000 })
 * await queue.add(name, data, opts)
 * const job = fromBull(await queue.getJob(id), await bullJob.getState())
 * ```
 */
import { isErrorCode } from '../../errors.ts'
import type { Job, JobError, JobState, PipelineStage } from '../model.ts'

/** What a job's BullMQ `data` holds (its task is the BullMQ job name). */
export interface BullData {
  input: string
  pipeline?: PipelineStage[]
  priority: number
  runAt: number
  timeoutMs: number
  /** The Idempotency-Key, if one was sent (the id is derived from it). */
  key?: string
  /** A random tag of the submission that stored the job: a keyed repeat finds another tag. */
  sub: string
  /** Set by a cancel: the job reads as `canceled` from then on, on every node. */
  canceledAt?: number
}

/** The fields of a BullMQ job this module reads (a structural subset of bullmq's `Job`). */
export interface BullRecord {
  id?: string | undefined
  name: string
  data: BullData
  opts: { attempts?: number }
  progress: unknown
  attemptsMade: number
  timestamp: number
  processedOn?: number | undefined
  finishedOn?: number | undefined
  failedReason?: string | undefined
  returnvalue?: unknown
}

/** BullMQ's job states (what `getState()` answers). */
export type BullState = 'completed' | 'failed' | 'delayed' | 'active' | 'waiting' | 'waiting-children' | 'prioritized' | 'unknown'

/** BullMQ's states a queued job is in. */
export const QUEUED_TYPES = ['waiting', 'prioritized', 'delayed', 'waiting-children'] as const

/** BullMQ priority of a highperf priority (−1000..1000, higher first → 1..2001, lower first). @example bullPriority(1000) // 1 */
export function bullPriority(p: number): number {
  return 1001 - p
}

/** The `failedReason` of a canceled job. */
export const CANCELED_REASON = 'job_canceled: The job was canceled'

/** An error as `failedReason` text. @example reasonOf({ code: 'task_timeout', message: 'took too long' }) // 'task_timeout: took too long' */
export function reasonOf(error: JobError): string {
  return `${error.code}: ${error.message}`
}

/** `failedReason` text back as an error: a registered code before the first ': ', else `task_failed`. @example errorOf('invalid_input: /ms') // { code: 'invalid_input', message: '/ms' } */
export function errorOf(reason: string): JobError {
  // BullMQ's own words for a job whose node died more often than maxStalledCount allows.
  if (reason.includes('stalled more than allowable limit')) return { code: 'worker_crashed', message: `the node running it stopped too often (${reason})` }
  const at = reason.indexOf(': ')
  const code = at > 0 ? reason.slice(0, at) : ''
  return isErrorCode(code) ? { code, message: reason.slice(at + 2) } : { code: 'task_failed', message: reason }
}

/** The job id an Idempotency-Key maps to: a UUID (version 5 layout) of SHA-1("highperf-job:" + key). @example keyJobId('order-42').length // 36 */
export function keyJobId(key: string): string {
  const h = new Bun.CryptoHasher('sha1').update(`highperf-job:${key}`).digest()
  h[6] = (h[6]! & 0x0f) | 0x50
  h[8] = (h[8]! & 0x3f) | 0x80
  const x = Buffer.from(h.subarray(0, 16)).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`
}

/** BullMQ's `add` arguments for a new highperf job. */
export interface BullAdd {
  name: string
  data: BullData
  opts: {
    jobId: string
    priority: number
    delay: number
    timestamp: number
    attempts: number
    backoff: { type: string }
    removeOnComplete: { age: number }
    removeOnFail: { age: number }
  }
}

/** Name of the custom backoff strategy (the embedded runner's equal-jitter backoff; processor.ts). */
export const BACKOFF_TYPE = 'highperf'

/** The `queue.add` arguments of a new job; `sub` tags this submission. */
export function toBull(job: Job, sub: string, ttlMs: number): BullAdd {
  const data: BullData = { input: job.input, priority: job.priority, runAt: job.runAt, timeoutMs: job.timeoutMs, sub }
  if (job.pipeline) data.pipeline = job.pipeline
  if (job.idempotencyKey !== undefined) data.key = job.idempotencyKey
  // BullMQ's ages are seconds; JOB_TTL below 1 s still keeps the job for a second.
  const age = Math.max(1, Math.ceil(ttlMs / 1000))
  return {
    name: job.task,
    data,
    opts: {
      jobId: job.id,
      priority: bullPriority(job.priority),
      delay: Math.max(0, job.runAt - job.createdAt),
      timestamp: job.createdAt,
      attempts: job.maxAttempts,
      backoff: { type: BACKOFF_TYPE },
      removeOnComplete: { age },
      removeOnFail: { age },
    },
  }
}

/** The highperf state of a BullMQ record in BullMQ state `state`. */
export function stateOf(rec: Pick<BullRecord, 'data' | 'failedReason'>, state: BullState): JobState {
  // A cancel wins over what the job did after it (as on bun:sqlite, where it is atomic).
  if (rec.data.canceledAt !== undefined) return 'canceled'
  switch (state) {
    case 'active': return 'running'
    case 'completed': return 'succeeded'
    case 'failed': return rec.failedReason?.startsWith('job_canceled:') ? 'canceled' : 'failed'
    default: return 'queued'
  }
}

function progressOf(p: unknown): { progress: number; message: string } {
  if (typeof p === 'number') return { progress: p, message: '' }
  if (p !== null && typeof p === 'object') {
    const o = p as { pct?: unknown; message?: unknown }
    return { progress: typeof o.pct === 'number' ? o.pct : 0, message: typeof o.message === 'string' ? o.message : '' }
  }
  return { progress: 0, message: '' }
}

/**
 * A job's `runAt`. While BullMQ holds the job in its delayed set, `dueAt` (that set's time for it,
 * read by the caller: connection.ts `delayedUntil`) is authoritative: a retry's backoff and a
 * reschedule from the dashboard (`job.changeDelay`) change only that, and the record keeps no base
 * time to rebuild it from (`delay` counts from the moment of the change). Otherwise (BullMQ forgets
 * the time once it releases a job) the time stored at submit, but never after the attempt's start:
 * a job moved earlier (rescheduled, promoted) did not start before it was due. Not so for a job
 * flagged canceled: a delayed one is promoted only to be failed at once (index.ts `cancel`).
 *
 * @example runAtOf(rec, 'delayed', 1_700_000_060_000) // 1_700_000_060_000, whatever rec.data.runAt says
 */
export function runAtOf(rec: Pick<BullRecord, 'data' | 'timestamp' | 'processedOn'>, state: BullState, dueAt?: number): number {
  if (state === 'delayed' && dueAt !== undefined) return dueAt
  const stored = rec.data.runAt
  if (!rec.processedOn || rec.data.canceledAt !== undefined) return stored
  return Math.min(stored, Math.max(rec.processedOn, rec.timestamp))
}

/** A BullMQ record in BullMQ state `state` as a highperf job; `dueAt` as for {@link runAtOf}. */
export function fromBull(rec: BullRecord, state: BullState, dueAt?: number): Job {
  const d = rec.data
  const s = stateOf(rec, state)
  const { progress, message } = progressOf(rec.progress)
  const job: Job = {
    id: rec.id ?? '',
    task: rec.name,
    input: d.input,
    state: s,
    priority: d.priority,
    runAt: runAtOf(rec, state, dueAt),
    // Attempts started: the finished ones, plus the one running now.
    attempts: rec.attemptsMade + (state === 'active' ? 1 : 0),
    maxAttempts: rec.opts.attempts ?? 1,
    timeoutMs: d.timeoutMs,
    // As on bun:sqlite, a succeeded job shows 100 whatever the task reported last.
    progress: s === 'succeeded' ? 100 : progress,
    progressMessage: message,
    createdAt: rec.timestamp,
    updatedAt: Math.max(rec.timestamp, rec.processedOn ?? 0, rec.finishedOn ?? 0, d.canceledAt ?? 0),
  }
  if (d.pipeline) job.pipeline = d.pipeline
  if (d.key !== undefined) job.idempotencyKey = d.key
  if (s === 'canceled') job.error = d.canceledAt !== undefined ? { code: 'job_canceled', message: 'The job was canceled' } : errorOf(rec.failedReason ?? CANCELED_REASON)
  else if (rec.failedReason && s !== 'succeeded') job.error = errorOf(rec.failedReason)
  // Clamped into order: BullMQ's PostgreSQL backend takes some of these times from the database's
  // clock (transaction time) and others from the node's, a few ms apart.
  if (rec.processedOn) job.startedAt = Math.max(rec.processedOn, rec.timestamp)
  const finished = s === 'canceled' ? (rec.finishedOn ?? d.canceledAt) : (s === 'succeeded' || s === 'failed' ? rec.finishedOn : undefined)
  if (finished !== undefined) job.finishedAt = Math.max(finished, job.startedAt ?? rec.timestamp)
  return job
}
