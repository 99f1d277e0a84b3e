/**
 * The BullMQ processor: runs one job (a task, or a whole pipeline) on highperf's worker pool and
 * turns the outcome into what BullMQ does next, with the embedded runner's rules (runner.ts):
 *
 * - hard timeout: `timeoutMs` goes to `pool.run` (the pipeline's budget to `runPipeline`); the pool
 *   kills a worker thread that ignores its signal. BullMQ has no timeout of its own (bullmq#136);
 * - a permanent error (`invalid_input`, `unknown_task`, …) is an `UnrecoverableError`: no retry;
 * - `queue_full` / `pool_closed` (the pool's fault, not the job's): back to the queue 250 ms later
 *   without counting the attempt (`moveToDelayed` + `DelayedError`);
 * - a cancel (signal reason {@link CANCEL_REASON}, or the `canceledAt` flag) fails the job with
 *   `job_canceled`, never retried;
 * - shutdown (reason {@link SHUTDOWN_REASON}): the job goes back to wait, attempt not counted
 *   (`moveToWait` + `WaitingError`), and another node (or the next start) takes it;
 * - any other error: BullMQ retries it after the equal-jitter backoff of {@link backoffStrategy}.
 *
 * The result is the task's JSON text, stored as a string: `GET /jobs/:id/result` answers the same
 * bytes as on bun:sqlite.
 *
 * @example
 * ```ts
 * const worker = new Worker(name, makeProcessor({ pool, log, poolPriority: -1 }), options)
 * ```
 */
import { DelayedError, UnrecoverableError, WaitingError, type Job as BullJob } from 'bullmq'
import { AppError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import type { TaskRunner } from '../../pool/types.ts'
import { backoffDelay } from '../../sync/index.ts'
import { NOT_THE_JOBS_FAULT, PERMANENT_ERRORS, type Job } from '../model.ts'
import { runPipeline } from '../pipeline.ts'
import { MAX_JOB_BACKOFF_MS } from '../runner.ts'
import { CANCELED_REASON, reasonOf, type BullData } from './mapping.ts'

/** The abort reason of a canceled job (`worker.cancelJob(id, CANCEL_REASON)`). */
export const CANCEL_REASON = 'job_canceled'
/** The abort reason of a job stopped by shutdown (`worker.cancelAllJobs(SHUTDOWN_REASON)`). */
export const SHUTDOWN_REASON = 'shutdown'


/** What the processor runs jobs with. */
export interface ProcessorOptions {
  pool: TaskRunner
  log: Logger
  /** Pool priority of job tasks (-1: below synchronous requests). */
  poolPriority: number
  /** Called when a job starts and when it leaves the processor (close() waits for running jobs). */
  onStart?(): void
  onEnd?(): void
}

/** BullMQ's processor signature with the job's data typed. */
export type Processor = (job: BullJob<BullData, string>, token: string | undefined, signal: AbortSignal | undefined) => Promise<string>

const decoder = new TextDecoder()

/** The highperf job the pool-side helpers (runPipeline) read. */
function asJob(job: BullJob<BullData, string>): Job {
  const d = job.data
  const j: Job = {
    id: job.id ?? '', task: job.name, input: d.input, state: 'running', priority: d.priority, runAt: d.runAt,
    attempts: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1, timeoutMs: d.timeoutMs,
    progress: 0, progressMessage: '', createdAt: job.timestamp, updatedAt: Date.now(),
  }
  if (d.pipeline) j.pipeline = d.pipeline
  return j
}

/** Builds the processor (see the module comment). */
export function makeProcessor(o: ProcessorOptions): Processor {
  return async (job, token, signal) => {
    if (job.data.canceledAt !== undefined) throw new UnrecoverableError(CANCELED_REASON)
    const sig = signal ?? new AbortController().signal
    const onProgress = (pct: number, message: string): void => {
      const p = Math.max(0, Math.min(100, Math.round(pct)))
      job.updateProgress({ pct: p, message }).catch((err: unknown) => o.log.warn({ err, id: job.id }, 'cannot record job progress'))
    }
    o.onStart?.()
    try {
      const j = asJob(job)
      const bytes = j.pipeline
        ? await runPipeline(o.pool, j, { signal: sig, priority: o.poolPriority, onProgress })
        : await o.pool.run(j.task, j.input, { signal: sig, timeoutMs: j.timeoutMs, priority: o.poolPriority, onProgress })
      return decoder.decode(bytes)
    } catch (err) {
      if (sig.aborted && sig.reason === CANCEL_REASON) throw new UnrecoverableError(CANCELED_REASON)
      if (sig.aborted && sig.reason === SHUTDOWN_REASON) {
        await job.moveToWait(token)
        throw new WaitingError()
      }
      const code = err instanceof AppError ? err.code : 'task_failed'
      const reason = reasonOf({ code, message: err instanceof Error ? err.message : String(err) })
      if (NOT_THE_JOBS_FAULT.has(code)) {
        await job.moveToDelayed(Date.now() + 250, token)
        throw new DelayedError()
      }
      if (PERMANENT_ERRORS.has(code)) throw new UnrecoverableError(reason)
      throw new Error(reason)
    } finally {
      o.onEnd?.()
    }
  }
}

/**
 * BullMQ's `settings.backoffStrategy`: the embedded runner's retry delay (exponential from
 * JOB_BACKOFF_BASE, equal jitter, at most 10 min), so jobs that failed together spread out.
 *
 * @example backoffStrategy(1000)(2) // 1000..2000
 */
export function backoffStrategy(baseMs: number, random: () => number = Math.random): (attemptsMade: number) => number {
  return (attemptsMade) => backoffDelay(attemptsMade, baseMs, MAX_JOB_BACKOFF_MS, random, 'equal')
}
