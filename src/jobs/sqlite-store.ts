/**
 * The embedded {@link JobStore}: one bun:sqlite file (`jobs.sqlite` in `DATA_DIR`) in WAL mode with
 * `synchronous=NORMAL`: a commit is durable against a process crash (SIGKILL) as soon as it
 * returns, and against power loss up to the last checkpoint, at a fraction of the cost of an
 * fsync per job. Every statement is prepared once; every state change is a single conditional
 * UPDATE (atomic by itself) or a transaction.
 *
 * Storage failures surface as their AppError (`storageError`: a full disk is 507
 * `insufficient_storage`, a lock held too long 503 `storage_busy`), for writes through the group
 * commit and for reads here; the runner retries an outcome it could not write on these codes.
 *
 * @example
 * ```ts
 * const store = openSqliteJobStore(join(config.dataDir, 'jobs.sqlite'))
 * await store.insert(newJob({ task: 'echo', input: '{}' }, Date.now()))
 * ```
 */
import type { Database, Statement } from 'bun:sqlite'
import { openDatabase, retryBusyAtOpen, runReturning, SHARED_BUSY_SYNC_MS, storageError } from '../store/sqlite.ts'
import { GroupCommit, type GroupCommitOptions } from '../store/group-commit.ts'
import type { Job, JobError, JobState } from './model.ts'
import { COLS, migrateJobs, toJob, type Row } from './sqlite-schema.ts'
import type { Claimed, Fence, InsertResult, JobStore, Lease, LeasedJob, ListPage, ListQuery } from './store.ts'

/** A claimed row: the job and its lease. */
interface LeasedRow extends Row {
  owner: string
  token: number
  lease_until: number
}

const LEASED_COLS = `${COLS}, owner, token, lease_until`

function toLeased(r: LeasedRow): LeasedJob {
  return Object.assign(toJob(r), { owner: r.owner, token: r.token, leaseUntil: r.lease_until })
}

/** Finished jobs deleted per transaction by the retention sweep. */
const SWEEP_BATCH = 2000

/** Expired leases failed (no attempts left) per claim at most; the next claim takes more. */
const CRASHED_PER_CLAIM = 64

type Bind = string | number | null | Uint8Array

/** The bun:sqlite job store. */
export class SqliteJobStore implements JobStore {
  readonly #db: Database
  readonly #insert: Statement<Row, Bind[]>
  readonly #byId: Statement<Row, [string]>
  readonly #byKey: Statement<Row, [string]>
  readonly #result: Statement<{ result: Uint8Array | null }, [string]>
  readonly #claim: Statement<LeasedRow, [number, number, string, number]>
  readonly #takeBack: Statement<LeasedRow, [number, number, string, number]>
  readonly #crash: Statement<Row, [number, number]>
  readonly #renew: Statement<{ id: string; token: number }, [number, string]>
  readonly #nextRunAt: Statement<{ t: number | null }, []>
  readonly #progress: Statement<Row, [number, string, number, string, string, number]>
  readonly #complete: Statement<Row, [Uint8Array, number, string, string, number]>
  readonly #fail: Statement<Row, [string, string, number, string, string, number]>
  readonly #retry: Statement<Row, [number, string, string, number, string, string, number]>
  readonly #release: Statement<Row, [number, number, string, string, number]>
  readonly #cancel: Statement<Row, [number, string]>
  readonly #sweep: Statement<Row, [number, number]>
  readonly #counts: Statement<{ state: JobState; n: number }, []>
  readonly #count: Statement<{ n: number }, [string]>
  #closed = false
  readonly #commits: GroupCommit

  constructor(db: Database, options: GroupCommitOptions = {}) {
    this.#db = db
    this.#commits = new GroupCommit(db, { what: 'write the job', ...options })
    migrateJobs(db)
    this.#insert = db.query(`INSERT INTO jobs (id, task, input, pipeline, state, priority, run_at, attempts, max_attempts,
      timeout_ms, progress, progress_message, idem_key, created_at, updated_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (idem_key) WHERE idem_key IS NOT NULL DO NOTHING`)
    this.#byId = db.query(`SELECT ${COLS} FROM jobs WHERE id = ?1`)
    this.#byKey = db.query(`SELECT ${COLS} FROM jobs WHERE idem_key = ?1`)
    this.#result = db.query(`SELECT result FROM jobs WHERE id = ?1 AND state = 'succeeded'`)
    // A claim: attempt counted, owner set, token one more than the job's last, lease from now.
    const claimSet = `state = 'running', attempts = attempts + 1, started_at = ?1, updated_at = ?1,
      progress = 0, progress_message = '', owner = ?3, token = token + 1, lease_until = ?4`
    this.#claim = db.query(`UPDATE jobs SET ${claimSet}
      WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_due WHERE state = 'queued' AND run_at <= ?1 ORDER BY priority DESC, run_at, id LIMIT ?2)
      RETURNING ${LEASED_COLS}`)
    this.#takeBack = db.query(`UPDATE jobs SET ${claimSet}
      WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_lease WHERE state = 'running' AND lease_until < ?1 ORDER BY lease_until, id LIMIT ?2)
      RETURNING ${LEASED_COLS}`)
    this.#crash = db.query(`UPDATE jobs SET state = 'failed', error_code = 'worker_crashed',
      error_message = 'The process running the job stopped (its lease expired) and no attempts are left', finished_at = ?1, updated_at = ?1
      WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_lease WHERE state = 'running' AND lease_until < ?1 AND attempts >= max_attempts LIMIT ?2)
      RETURNING ${COLS}`)
    this.#renew = db.query(`UPDATE jobs SET lease_until = ?1 WHERE owner = ?2 AND state = 'running' RETURNING id, token`)
    this.#nextRunAt = db.query(`SELECT min(run_at) AS t FROM jobs WHERE state = 'queued'`)
    // Fenced: the write lands only while the job is still this claim's (a late owner changes nothing).
    this.#progress = db.query(`UPDATE jobs SET progress = ?1, progress_message = ?2, updated_at = ?3
      WHERE id = ?4 AND state = 'running' AND owner = ?5 AND token = ?6 RETURNING id`)
    this.#complete = db.query(`UPDATE jobs SET state = 'succeeded', result = ?1, progress = 100, error_code = NULL,
      error_message = NULL, finished_at = ?2, updated_at = ?2 WHERE id = ?3 AND state = 'running' AND owner = ?4 AND token = ?5 RETURNING ${COLS}`)
    this.#fail = db.query(`UPDATE jobs SET state = 'failed', error_code = ?1, error_message = ?2, finished_at = ?3,
      updated_at = ?3 WHERE id = ?4 AND state = 'running' AND owner = ?5 AND token = ?6 RETURNING ${COLS}`)
    this.#retry = db.query(`UPDATE jobs SET state = 'queued', run_at = ?1, error_code = ?2, error_message = ?3,
      updated_at = ?4 WHERE id = ?5 AND state = 'running' AND owner = ?6 AND token = ?7 RETURNING ${COLS}`)
    this.#release = db.query(`UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), run_at = ?1, updated_at = ?2
      WHERE id = ?3 AND state = 'running' AND owner = ?4 AND token = ?5 RETURNING ${COLS}`)
    this.#cancel = db.query(`UPDATE jobs SET state = 'canceled', error_code = 'job_canceled',
      error_message = 'The job was canceled', finished_at = ?1, updated_at = ?1
      WHERE id = ?2 AND state IN ('queued', 'running') RETURNING ${COLS}`)
    // In batches, each its own transaction: a sweep of a day of jobs neither holds the write lock
    // (other processes wait for it) nor this event loop for long.
    this.#sweep = db.query(`DELETE FROM jobs WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_finished
      WHERE finished_at IS NOT NULL AND finished_at < ?1 AND state IN ('succeeded', 'failed', 'canceled') LIMIT ?2) RETURNING id`)
    this.#counts = db.query(`SELECT state, count(*) AS n FROM jobs GROUP BY state`)
    this.#count = db.query(`SELECT count(*) AS n FROM jobs INDEXED BY jobs_state_id WHERE state = ?1`)
  }

  /** The insert itself, run inside a group commit. */
  #insertRow(job: Job): InsertResult {
    const key = job.idempotencyKey ?? null
    const res = this.#insert.run(
      job.id, job.task, job.input, job.pipeline ? JSON.stringify(job.pipeline) : null, job.state, job.priority,
      job.runAt, job.attempts, job.maxAttempts, job.timeoutMs, job.progress, job.progressMessage, key,
      job.createdAt, job.updatedAt,
    )
    if (res.changes === 1 || key === null) return { job, created: true }
    const existing = this.#byKey.get(key)
    if (!existing) throw new Error('idempotency key conflict without a stored job')
    return { job: toJob(existing), created: false }
  }

  insert(job: Job): Promise<InsertResult> {
    return this.#write(() => this.#insertRow(job))
  }

  #write<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the job store is closed'))
    return this.#commits.write(run)
  }

  #cancelOne(id: string, now: number): { job: Job; from: JobState } | undefined {
    const before = this.#byId.get(id)
    if (!before) return undefined
    const r = runReturning(this.#cancel, now, id)
    return { job: toJob(r ?? before), from: before.state }
  }

  async get(id: string): Promise<Job | undefined> {
    const r = this.#read('read the job', () => this.#byId.get(id))
    return r ? toJob(r) : undefined
  }

  async findByKey(key: string): Promise<Job | undefined> {
    const r = this.#read('read the job', () => this.#byKey.get(key))
    return r ? toJob(r) : undefined
  }

  async result(id: string): Promise<Uint8Array | undefined> {
    const r = this.#read('read the job result', () => this.#result.get(id))
    return r?.result ?? undefined
  }

  /** Runs a read, turning a storage failure into its AppError (the async API rejects with it). */
  #read<T>(what: string, run: () => T): T {
    try {
      return run()
    } catch (err) {
      throw storageError(err, what)
    }
  }

  async list(q: ListQuery): Promise<ListPage> {
    const where: string[] = []
    const args: Bind[] = []
    if (q.state) { args.push(q.state); where.push(`state = ?${args.length}`) }
    if (q.task) { args.push(q.task); where.push(`task = ?${args.length}`) }
    if (q.cursor) { args.push(q.cursor); where.push(`id > ?${args.length}`) }
    args.push(q.limit + 1)
    // A handful of shapes at most (state? task? cursor?): db.query caches each compiled statement.
    const sql = `SELECT ${COLS} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?${args.length}`
    const rows = this.#read('list the jobs', () => this.#db.query<Row, Bind[]>(sql).all(...args))
    const more = rows.length > q.limit
    const jobs = (more ? rows.slice(0, q.limit) : rows).map(toJob)
    const page: ListPage = { jobs }
    if (more) page.nextCursor = jobs[jobs.length - 1]!.id
    return page
  }

  /** The claim itself, run inside a group commit: expired leases first, then due queued jobs. */
  #claimRows(now: number, limit: number, lease: Lease): Claimed {
    if (limit <= 0) return { jobs: [], takenBack: 0, crashed: [] }
    const crashed = this.#crash.all(now, CRASHED_PER_CLAIM).map(toJob)
    const back = this.#takeBack.all(now, limit, lease.owner, lease.until).map(toLeased)
    const fresh = back.length < limit ? this.#claim.all(now, limit - back.length, lease.owner, lease.until).map(toLeased) : []
    // RETURNING has no defined order: restore the claim order.
    if (fresh.length > 1) fresh.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : 1))
    return { jobs: back.length === 0 ? fresh : [...back, ...fresh], takenBack: back.length, crashed }
  }

  claim(now: number, limit: number, lease: Lease): Promise<Claimed> {
    return this.#write(() => this.#claimRows(now, limit, lease))
  }

  renew(owner: string, until: number): Promise<Fence[]> {
    return this.#write(() => this.#renew.all(until, owner).map((r) => ({ id: r.id, owner, token: r.token })))
  }

  async nextRunAt(): Promise<number | undefined> {
    return this.#read('read the job queue', () => this.#nextRunAt.get())?.t ?? undefined
  }

  progress(f: Fence, pct: number, message: string, now: number): Promise<boolean> {
    return this.#write(() => runReturning(this.#progress, pct, message, now, f.id, f.owner, f.token) !== null)
  }

  complete(f: Fence, result: Uint8Array, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#complete, result, now, f.id, f.owner, f.token)
      return r ? toJob(r) : undefined
    })
  }

  fail(f: Fence, error: JobError, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#fail, error.code, error.message, now, f.id, f.owner, f.token)
      return r ? toJob(r) : undefined
    })
  }

  retry(f: Fence, runAt: number, error: JobError, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#retry, runAt, error.code, error.message, now, f.id, f.owner, f.token)
      return r ? toJob(r) : undefined
    })
  }

  release(f: Fence, runAt: number, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#release, runAt, now, f.id, f.owner, f.token)
      return r ? toJob(r) : undefined
    })
  }

  cancel(id: string, now: number): Promise<{ job: Job; from: JobState } | undefined> {
    return this.#write(() => this.#cancelOne(id, now))
  }

  async sweep(before: number): Promise<number> {
    let total = 0
    for (;;) {
      const n = await this.#write(() => this.#sweep.all(before, SWEEP_BATCH).length)
      total += n
      if (n < SWEEP_BATCH) return total
    }
  }

  async counts(): Promise<Record<JobState, number>> {
    const out: Record<JobState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 }
    for (const { state, n } of this.#read('count the jobs', () => this.#counts.all())) out[state] = n
    return out
  }

  async count(state: JobState): Promise<number> {
    return this.#read('count the jobs', () => this.#count.get(state))?.n ?? 0
  }

  /**
   * Writes a consistent copy of the database to `path`, a file that must not exist yet (`VACUUM
   * INTO`: one read transaction on this connection, so it works while this connection holds the
   * file in exclusive locking mode, and writes wait only for the copy). src/ops/backup.ts uses it.
   *
   * @example store.copyTo('/backups/2026-01-01T00-00-00Z/jobs.sqlite')
   */
  copyTo(path: string): void {
    this.#db.run('VACUUM INTO ?1', [path])
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // The last batch may block: waiting for another process's lock is fine at shutdown.
    this.#db.run('PRAGMA busy_timeout = 5000')
    this.#commits.flush()
    this.#db.close()
  }
}

/** Options of {@link openSqliteJobStore}. */
export interface OpenJobStoreOptions {
  /**
   * Other processes share the file (`sharedDatabases(config)`): a connection then waits for the
   * write lock at most `SHARED_BUSY_SYNC_MS` (src/store/sqlite.ts) inside SQLite (a wait that
   * blocks the event loop), and the group commit waits longer off the loop
   * (src/store/group-commit.ts, `busyRetryMs`).
   */
  shared?: boolean
  /** Called after each group commit with the time it held the event loop, ms (benchmarks). */
  observe?: GroupCommitOptions['observe']
}

/**
 * Opens (creating if needed, migrating if older) the job store at `path`.
 *
 * @example const store = openSqliteJobStore(':memory:')
 */
export function openSqliteJobStore(path: string, options: OpenJobStoreOptions = {}): SqliteJobStore {
  const observe = options.observe ? { observe: options.observe } : {}
  if (!options.shared) return new SqliteJobStore(openDatabase(path), observe)
  // The schema and migration run under the long timeout (processes starting together), then the
  // short one; a BUSY reported past the busy handler is retried (retryBusyAtOpen).
  return retryBusyAtOpen(() => {
    const db = openDatabase(path)
    try {
      const store = new SqliteJobStore(db, { busyRetryMs: 5000, ...observe })
      db.run(`PRAGMA busy_timeout = ${SHARED_BUSY_SYNC_MS}`)
      return store
    } catch (err) {
      db.close()
      throw err
    }
  })
}
