/**
 * One run of one claimed job: the task (or pipeline) through the pool, then its outcome written
 * to the store — result, retry with backoff, final failure, or release back to the queue — fenced
 * by the claim. The {@link JobRunner} decides when a job runs; this module decides what its run
 * leaves behind.
 *
 * Why a run's stop reason is a symbol on its AbortSignal: the same abort reaches the pool (which
 * stops the task) and this code (which must then write the right thing or nothing at all), and a
 * symbol cannot be confused with an error a task throws.
 *
 * @example
 * ```ts
 * const ac = new AbortController()
 * const after = await executeJob(job, ac.signal, { store, pool, log, now: Date.now, random: Math.random,
 *   backoffBase: 1000, poolPriority: -1, stopRetries, leftPool: () => {}, onProgress: () => {} })
 * if (after) console.log(after.state) // 'succeeded', 'queued' (a retry), 'failed'
 * ```
 */
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { TaskRunner } from '../pool/types.ts'
import { backoffDelay } from '../sync/index.ts'
import { NOT_THE_JOBS_FAULT, PERMANENT_ERRORS, type Job, type JobError } from './model.ts'
import { writeOutcome } from './outcome-writer.ts'
import { runPipeline } from './pipeline.ts'
import type { JobStore, LeasedJob } from './store.ts'

/**
 * The longest wait between two attempts of a job. Retries use equal jitter (uniform in [c/2, c]):
 * jobs that failed together (e.g. after a worker crash) spread out, and none is retried at once.
 */
export const MAX_JOB_BACKOFF_MS = 10 * 60_000

/** Canceled by a user: cancel() already stored and published the canceled state. */
export const CANCELED = Symbol('canceled')
/** The server stops: the job goes back to the queue, its attempt not counted. */
export const SHUTDOWN = Symbol('shutdown')
/** The job is no longer this runner's (its lease was taken back): nothing of it may be written. */
export const LOST = Symbol('lost')


/** What a run needs from its runner. */
export interface ExecuteContext {
  store: JobStore
  pool: TaskRunner
  log: Logger
  now: () => number
  random: () => number
  /** Base of the exponential retry backoff, ms. */
  backoffBase: number
  /** Pool priority of job tasks. */
  poolPriority: number
  /** Aborted when the server stops waiting for outcome writes (close() past its grace). */
  stopRetries: AbortSignal
  /** Called once, as soon as the task left the pool (before its outcome commits). */
  leftPool: () => void
  /** A progress report of the running task (already clamped to 0..100). */
  onProgress: (progress: number, message: string) => void
}

/**
 * Runs `job` and writes its outcome. Resolves to the job as stored after the outcome, or
 * undefined when nothing was written (canceled, lost, or a fenced write the store refused as no
 * longer this claim's). Rejects only when the outcome could not be written before
 * `ctx.stopRetries` aborted: the job then stays `running` until its lease expires.
 */
export async function executeJob(job: LeasedJob, signal: AbortSignal, ctx: ExecuteContext): Promise<Job | undefined> {
  const onProgress = (pct: number, message: string): void => {
    if (signal.aborted) return
    ctx.onProgress(Math.max(0, Math.min(100, Math.round(pct))), message)
  }
  let bytes: Uint8Array
  try {
    bytes = job.pipeline
      ? await runPipeline(ctx.pool, job, { signal, priority: ctx.poolPriority, onProgress, now: ctx.now })
      : await ctx.pool.run(job.task, job.input, { signal, timeoutMs: job.timeoutMs, priority: ctx.poolPriority, onProgress })
  } catch (err) {
    ctx.leftPool()
    return failed(job, signal, err, ctx)
  }
  ctx.leftPool()
  if (signal.reason === LOST) return undefined
  try {
    return await record(job, 'result', () => ctx.store.complete(job, bytes, ctx.now()), ctx)
  } catch (err) {
    if (ctx.stopRetries.aborted) throw err
    // Refused for a reason that does not pass (e.g. a result the store cannot hold): the job
    // fails with that reason instead of staying `running`.
    const error: JobError = { code: 'internal', message: `the result could not be stored: ${err instanceof Error ? err.message : String(err)}` }
    return record(job, 'failure', () => ctx.store.fail(job, error, ctx.now()), ctx)
  }
}

/** Writes what a failed run leaves: nothing, a release, a retry after backoff, or the failure. */
function failed(job: LeasedJob, signal: AbortSignal, err: unknown, ctx: ExecuteContext): Promise<Job | undefined> {
  const now = ctx.now()
  if (signal.reason === CANCELED || signal.reason === LOST) return Promise.resolve(undefined)
  const code = err instanceof AppError ? err.code : 'task_failed'
  const error: JobError = { code, message: err instanceof Error ? err.message : String(err) }
  const store = ctx.store
  if (signal.reason === SHUTDOWN || NOT_THE_JOBS_FAULT.has(code)) {
    return record(job, 'release', () => store.release(job, signal.reason === SHUTDOWN ? now : now + 250, now), ctx)
  }
  if (!PERMANENT_ERRORS.has(code) && job.attempts < job.maxAttempts) {
    const runAt = now + backoffDelay(job.attempts, ctx.backoffBase, MAX_JOB_BACKOFF_MS, ctx.random, 'equal')
    return record(job, 'retry', () => store.retry(job, runAt, error, now), ctx)
  }
  return record(job, 'failure', () => store.fail(job, error, now), ctx)
}

/** Writes one outcome of `job` until the store takes it or the runner stops the retries. */
function record(job: Job, what: string, write: () => Promise<Job | undefined>, ctx: ExecuteContext): Promise<Job | undefined> {
  return writeOutcome(write, { id: job.id, what, log: ctx.log, signal: ctx.stopRetries, random: ctx.random })
}
