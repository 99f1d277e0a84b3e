/**
 * `JobStore`: where jobs live. The runner and the routes see only this interface; the embedded
 * default is bun:sqlite (`sqlite-store.ts`), a Redis store comes later and must pass the same
 * suite (`test/jobs/store-suite.ts`, `runJobStoreSuite`).
 *
 * Every state change is one atomic step of the store and is conditional on the current state
 * (e.g. `complete` only moves a `running` job), so a cancel racing a completion has exactly one
 * winner and a final state is never overwritten.
 *
 * Leases (several processes on one store, docs/jobs.md#several-processes): a claim gives each job
 * an owner (one runner instance), a fencing token (one more than the job's last) and a lease end.
 * The owner renews its leases ({@link JobStore.renew}); a `running` job whose lease ran out is
 * claimed again by whoever claims next (an attempt counted), or fails with `worker_crashed` when
 * no attempts are left. Every write of a running job's owner (progress, complete, fail, retry,
 * release) is fenced by `{id, owner, token}`: a late owner, whose job was taken back or canceled,
 * changes nothing.
 *
 * A store reports a failure of its storage that passes on its own as an AppError with one of the
 * codes of `STORAGE_TRANSIENT` (outcome-writer.ts): `insufficient_storage` (507, disk full),
 * `storage_busy`, `storage_read_only`, `storage_unavailable` (503). Routes answer them as such,
 * and the runner retries a job's outcome write refused with them until it lands.
 *
 * @example
 * ```ts
 * const { job, created } = await store.insert(newJob({ task: 'echo', input: '{}' }, Date.now()))
 * const { jobs: [claimed] } = await store.claim(Date.now(), 1, { owner: 'a1', until: Date.now() + 5000 })
 * await store.complete(claimed, new TextEncoder().encode('{}'), Date.now()) // fenced by claimed.owner/token
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

/** Who claims, and until when the claim holds without a renewal (epoch ms). */
export interface Lease {
  /** Unique to one runner instance (not just a pid, which the OS reuses). */
  owner: string
  until: number
}

/** What fences a write of a running job: it lands only while the job is still this claim's. */
export interface Fence {
  id: string
  owner: string
  token: number
}

/** A job as claimed: the job, and the lease it runs under. */
export interface LeasedJob extends Job, Fence {
  leaseUntil: number
}

/** What one {@link JobStore.claim} did. */
export interface Claimed {
  /** The jobs now running under the lease, in claim order (taken-back jobs first). */
  jobs: LeasedJob[]
  /** How many of `jobs` were `running` under an expired lease (taken back), not `queued`. */
  takenBack: number
  /** Jobs whose lease expired with no attempts left: now `failed` with `worker_crashed`. */
  crashed: Job[]
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
   * Atomically takes up to `limit` jobs under `lease`, counting an attempt each: first `running`
   * jobs whose lease expired before `now` (their owner stopped renewing: it died), then due queued
   * jobs (runAt <= now; highest priority, then earliest runAt, then oldest). Expired jobs with no
   * attempts left fail with `worker_crashed` instead (in `crashed`).
   */
  claim(now: number, limit: number, lease: Lease): Promise<Claimed>
  /**
   * Extends to `until` the lease of every `running` job of `owner`, in one statement, and returns
   * those jobs' fences: a job the owner runs that is missing was canceled or taken back.
   */
  renew(owner: string, until: number): Promise<Fence[]>
  /** Earliest runAt among queued jobs, if any (when the runner must look again). */
  nextRunAt(): Promise<number | undefined>
  /** Records progress of a running job; false when the job is not running under `fence`. */
  progress(fence: Fence, pct: number, message: string, now: number): Promise<boolean>
  /** running -> succeeded with the result bytes; undefined when the job was not running under `fence`. */
  complete(fence: Fence, result: Uint8Array, now: number): Promise<Job | undefined>
  /** running -> failed; undefined when the job was not running under `fence`. */
  fail(fence: Fence, error: JobError, now: number): Promise<Job | undefined>
  /** running -> queued at `runAt` with the error of the failed attempt (kept as the last error); fenced. */
  retry(fence: Fence, runAt: number, error: JobError, now: number): Promise<Job | undefined>
  /** running -> queued at `runAt` without counting the attempt (the server, not the job, stopped it); fenced. */
  release(fence: Fence, runAt: number, now: number): Promise<Job | undefined>
  /**
   * queued|running -> canceled. Returns the job as it is now and the state it was in before
   * (`from` final: nothing changed), or undefined for an unknown id.
   */
  cancel(id: string, now: number): Promise<{ job: Job; from: JobState } | undefined>
  /** Deletes final jobs that finished before `before`; returns how many. */
  sweep(before: number): Promise<number>
  /** Jobs per state. */
  counts(): Promise<Record<JobState, number>>
  /** Jobs in one state (cheaper than {@link counts}: the queue limit reads `queued`). */
  count(state: JobState): Promise<number>
  close(): Promise<void>
}
