/**
 * `JobService`: the job API as the routes, the wiring (src/deps.ts), /metrics and the status page
 * see it. Two implementations:
 *
 * - `JobRunner` (runner.ts) over a `JobStore` (bun:sqlite in DATA_DIR): the default, one host;
 * - `BullJobs` (bullmq/index.ts) on BullMQ 6, over Redis or BullMQ's PostgreSQL backend, when
 *   `JOBS_URL` is set: every node that names the same URL shares one queue.
 *
 * Both pass the same contract suite (test/jobs/service-suite.ts). Where BullMQ cannot keep a
 * behaviour (list order and paging, counts of canceled jobs) docs/jobs.md#many-hosts says so.
 *
 * @example
 * ```ts
 * const jobs: JobService = await openJobService(config, pool, log)
 * await jobs.start()
 * const { job } = await jobs.submit({ task: 'echo', input: '{"value":1}' })
 * const off = jobs.subscribe(job.id, (e) => console.log(e.type))
 * ```
 */
import type { JobListener } from './events.ts'
import type { Job, JobState, NewJob } from './model.ts'
import type { InsertResult, ListPage, ListQuery } from './store.ts'

/** The job API (see the module comment). Every method may throw an `AppError` with a 4xx/5xx code. */
export interface JobService {
  /** True once {@link drain} was called: no submissions, no new jobs started here. */
  readonly draining: boolean
  /**
   * The embedded store (bun:sqlite), for the backup route; absent when jobs live elsewhere
   * (JOBS_URL): then they are backed up with Redis or PostgreSQL, not by highperf.
   */
  readonly store?: object
  /** Recovers what a crash left, starts taking jobs. */
  start(): Promise<void>
  /**
   * Validates and stores a job. `created: false` with the stored job for an Idempotency-Key seen
   * before (the caller compares the request: a different one is a 409). Throws `shutting_down`,
   * `queue_full`, `unknown_task`, `validation_failed`, or `jobs_unavailable` (the backend is away).
   */
  submit(req: NewJob): Promise<InsertResult>
  get(id: string): Promise<Job | undefined>
  /** The result bytes of a succeeded job, exactly as the task produced them. */
  result(id: string): Promise<Uint8Array | undefined>
  /** One page of jobs; the cursor is opaque (a job id on bun:sqlite, an offset on BullMQ). */
  list(query: ListQuery): Promise<ListPage>
  /** Subscribes to one job's state and progress events, wherever it runs; returns the unsubscribe (safe twice). */
  subscribe(id: string, listener: JobListener): () => void
  /** Cancels a queued or running job, wherever it runs; the job and its state before, or undefined for an unknown id. */
  cancel(id: string): Promise<{ job: Job; from: JobState } | undefined>
  /** Jobs per state, cheap (read at every /metrics scrape and status page refresh). */
  counts(): Record<JobState, number>
  /**
   * Jobs per state as of now, for a /metrics scrape: where counts are shared by processes or
   * nodes (a shared jobs.sqlite, BullMQ), {@link counts} may be a second or a scrape old.
   */
  freshCounts(): Promise<Record<JobState, number>>
  /** Stops taking jobs; `graceMs` is how long {@link close} lets running jobs finish. */
  drain(graceMs?: number): void
  /** Drains, waits for running jobs until the grace ends, puts the rest back (no attempt counted), closes. */
  close(graceMs?: number): Promise<void>
}

/**
 * The optional check of a list cursor a service may add: throws `validation_failed` for a cursor
 * it never hands out. Without it, a cursor must be a job id (the embedded store's keyset cursor).
 *
 * @example
 * ```ts
 * if (hasCursorCheck(jobs)) jobs.checkCursor(query.cursor)
 * ```
 */
export interface CursorCheck {
  checkCursor(cursor: string): void
}

/** True when `jobs` checks its own cursors (BullJobs: offsets). @example hasCursorCheck(runner) // false */
export function hasCursorCheck(jobs: object): jobs is CursorCheck {
  return typeof (jobs as Partial<CursorCheck>).checkCursor === 'function'
}

/** A service with a queue dashboard (BullJobs: bull-board). */
export interface Dashboard {
  dashboard(basePath: string): Promise<(request: Request) => Response | Promise<Response>>
}

/** True when `jobs` serves a dashboard. @example hasDashboard(runner) // false */
export function hasDashboard(jobs: object): jobs is Dashboard {
  return typeof (jobs as Partial<Dashboard>).dashboard === 'function'
}
