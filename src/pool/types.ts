/**
 * The public face of the worker pool, as the routes and the job runner use it.
 *
 * Inputs and results cross the ring as UTF-8 JSON bytes: the main thread passes the request body
 * through untouched and answers with the result bytes untouched (no JSON.parse/stringify).
 * Failures are `AppError`s from src/errors.ts with these codes: `unknown_task` (404),
 * `invalid_input` (422, `details` lists the failing paths), `task_failed` (500, the task's own
 * message), `task_timeout` (504), `client_closed` (the signal aborted), `worker_crashed` (500),
 * `queue_full` (503, `retryAfter` set), `pool_closed` (503), and `not_found` (404) when a task
 * reports a missing resource (e.g. `cars.lookup` of an unknown id). A task's other `AppError`
 * codes are reported as `task_failed` with the task's message.
 */
import type { TaskInfo } from '../tasks/types.ts'

/** How one run is scheduled and bounded. */
export interface RunOptions {
  /** Aborting cancels the task: removed from the queue if not started, else `ctx.signal` fires. */
  signal?: AbortSignal
  /** Hard limit: past it the task fails with `task_timeout`, and a worker that ignores its signal is replaced. */
  timeoutMs?: number
  /** Higher runs first among queued tasks; default 0. */
  priority?: number
  /** Called on the main thread when the task reports progress. */
  onProgress?(pct: number, message: string): void
}

/** Counts and latency summaries for one task name. */
export interface TaskStats {
  ok: number
  failed: number
  canceled: number
  timedOut: number
  queueWaitMs: { p50: number; p90: number; p99: number }
  runMs: { p50: number; p90: number; p99: number }
}

/** A snapshot of the pool for `GET /pool` and `/metrics`. */
export interface PoolStats {
  workers: number
  alive: number
  queued: number
  running: number
  queueLimit: number
  /** Fraction of wall time each worker spent running tasks since start (0..1). */
  utilization: number[]
  restarts: number
  tasks: Record<string, TaskStats>
}

/** What routes and jobs depend on; `WorkerPool` implements it, tests may fake it. */
export interface TaskRunner {
  /** Runs `task` with `input` (JSON text or UTF-8 JSON bytes) and resolves with the result's JSON bytes. */
  run(task: string, input: string | Uint8Array, options?: RunOptions): Promise<Uint8Array>
  /** The registered tasks, as the workers reported them. */
  catalog(): readonly TaskInfo[]
  stats(): PoolStats
}
