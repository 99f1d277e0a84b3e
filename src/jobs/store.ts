/**
 * `JobStore`: where jobs live. The runner and the routes see only this interface; the embedded
 * default is bun:sqlite (`sqlite-store.ts`), a Redis store comes later and must pass the same
 * suite (`test/jobs/store-suite.ts`, `runJobStoreSuite`).
 *
 * Every state change is one atomic step of the store and is conditional on the current state
 * (e.g. `complete` only moves a `running` job), so a cancel racing a completion has exactly one
 * winner and a final state is never overwritten.
 *
 * A store reports a failure of its storage that passes on its own as an AppError with one of the
 * codes of `STORAGE_TRANSIENT` (outcome-writer.ts): `insufficient_storage` (507, disk full),
 * `storage_busy`, `storage_read_only`, `storage_unavailable` (503). Routes answer them as such,
 * and the runner retries a job's outcome write refused with them until it lands.
 *
 * @example
 * ```ts
 * const { job, created } = await store.insert(newJob({ task: 'echo', input: '{}' }, Date.now()))
 * const [claimed] = await store.claim(Date.now(), 1)   // now running, attempts 1
 * await store.complete(claimed.id, new TextEncoder().encode('{}'), Date.now())
 * ```
 */
import type { Job, JobError, JobState } from './model.ts'

/** Filters and keyset paging of {@link JobStore.list}. */
export interface ListQuery {
  state?: JobState
  task?: string
  /** 1..1000. */
  limit: number
  /** The last id of the previous page: the next page holds strictly newer ids. */
  cursor?: string
}

/** One page of jobs, oldest first, and the cursor of the next page (absent on the last). */
export interface ListPage {
  jobs: Job[]
  nextCursor?: string
}

/** Result of an insert: the stored job, and whether it is new (false: same Idempotency-Key seen). */
export interface InsertResult {
  job: Job
  created: boolean
}

/** Persistence of jobs. All methods are async so a networked store fits the same interface. */
export interface JobStore {
  /** Stores a new job; with an idempotency key already stored, returns that job with `created: false`. */
  insert(job: Job): Promise<InsertResult>
  get(id: string): Promise<Job | undefined>
  /** The job stored under an idempotency key, if any. */
  findByKey(key: string): Promise<Job | undefined>
  /** The result bytes of a succeeded job, exactly as the task produced them. */
  result(id: string): Promise<Uint8Array | undefined>
  list(query: ListQuery): Promise<ListPage>
  /**
   * Atomically moves up to `limit` due queued jobs (runAt <= now; highest priority, then earliest
   * runAt, then oldest) to `running`, counting an attempt, and returns them.
   */
  claim(now: number, limit: number): Promise<Job[]>
  /** Earliest runAt among queued jobs, if any (when the runner must look again). */
  nextRunAt(): Promise<number | undefined>
  /** Records progress of a running job; false when the job is not running. */
  progress(id: string, pct: number, message: string, now: number): Promise<boolean>
  /** running -> succeeded with the result bytes; undefined when the job was not running. */
  complete(id: string, result: Uint8Array, now: number): Promise<Job | undefined>
  /** running -> failed; undefined when the job was not running. */
  fail(id: string, error: JobError, now: number): Promise<Job | undefined>
  /** running -> queued at `runAt` with the error of the failed attempt (kept as the last error). */
  retry(id: string, runAt: number, error: JobError, now: number): Promise<Job | undefined>
  /** running -> queued at `runAt` without counting the attempt (the server, not the job, stopped it). */
  release(id: string, runAt: number, now: number): Promise<Job | undefined>
  /**
   * queued|running -> canceled. Returns the job as it is now and the state it was in before
   * (`from` final: nothing changed), or undefined for an unknown id.
   */
  cancel(id: string, now: number): Promise<{ job: Job; from: JobState } | undefined>
  /**
   * After a crash: every `running` job goes back to `queued` (its attempt stays counted), except
   * those with no attempts left, which fail with `worker_crashed`. Returns how many of each.
   */
  recover(now: number): Promise<{ requeued: number; failed: number }>
  /** Deletes final jobs that finished before `before`; returns how many. */
  sweep(before: number): Promise<number>
  /** Jobs per state. */
  counts(): Promise<Record<JobState, number>>
  close(): Promise<void>
}
