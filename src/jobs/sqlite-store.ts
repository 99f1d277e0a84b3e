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
import { openDatabase, runReturning, storageError } from '../store/sqlite.ts'
import { GroupCommit } from './group-commit.ts'
import type { Job, JobError, JobState, PipelineStage } from './model.ts'
import type { InsertResult, JobStore, ListPage, ListQuery } from './store.ts'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  task TEXT NOT NULL,
  input TEXT NOT NULL,
  pipeline TEXT,
  state TEXT NOT NULL,
  priority INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  progress INTEGER NOT NULL DEFAULT 0,
  progress_message TEXT NOT NULL DEFAULT '',
  result BLOB,
  error_code TEXT,
  error_message TEXT,
  idem_key TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER
);
-- Partial: most jobs carry no key, and NULLs would still cost an index entry per insert.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem_key ON jobs (idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_queued_run_at ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_state_id ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_task_id ON jobs (task, id);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
`

// Every column but the result: job rows travel without their (possibly large) result bytes.
const COLS = `id, task, input, pipeline, state, priority, run_at, attempts, max_attempts, timeout_ms,
  progress, progress_message, error_code, error_message, idem_key, created_at, updated_at, started_at, finished_at`

interface Row {
  id: string
  task: string
  input: string
  pipeline: string | null
  state: JobState
  priority: number
  run_at: number
  attempts: number
  max_attempts: number
  timeout_ms: number
  progress: number
  progress_message: string
  error_code: string | null
  error_message: string | null
  idem_key: string | null
  created_at: number
  updated_at: number
  started_at: number | null
  finished_at: number | null
}

function toJob(r: Row): Job {
  const job: Job = {
    id: r.id,
    task: r.task,
    input: r.input,
    state: r.state,
    priority: r.priority,
    runAt: r.run_at,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    progress: r.progress,
    progressMessage: r.progress_message,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
  if (r.pipeline !== null) job.pipeline = JSON.parse(r.pipeline) as PipelineStage[]
  if (r.error_code !== null) job.error = { code: r.error_code, message: r.error_message ?? '' }
  if (r.idem_key !== null) job.idempotencyKey = r.idem_key
  if (r.started_at !== null) job.startedAt = r.started_at
  if (r.finished_at !== null) job.finishedAt = r.finished_at
  return job
}

type Bind = string | number | null | Uint8Array

/** The bun:sqlite job store. */
export class SqliteJobStore implements JobStore {
  readonly #db: Database
  readonly #insert: Statement<Row, Bind[]>
  readonly #byId: Statement<Row, [string]>
  readonly #byKey: Statement<Row, [string]>
  readonly #result: Statement<{ result: Uint8Array | null }, [string]>
  readonly #claim: Statement<Row, [number, number]>
  readonly #nextRunAt: Statement<{ t: number | null }, []>
  readonly #progress: Statement<Row, [number, string, number, string]>
  readonly #complete: Statement<Row, [Uint8Array, number, string]>
  readonly #fail: Statement<Row, [string, string, number, string]>
  readonly #retry: Statement<Row, [number, string, string, number, string]>
  readonly #release: Statement<Row, [number, number, string]>
  readonly #cancel: Statement<Row, [number, string]>
  readonly #recoverFail: Statement<Row, [number]>
  readonly #recoverRequeue: Statement<Row, [number]>
  readonly #sweep: Statement<Row, [number]>
  readonly #counts: Statement<{ state: JobState; n: number }, []>
  #closed = false
  readonly #commits: GroupCommit

  constructor(db: Database) {
    this.#db = db
    this.#commits = new GroupCommit(db)
    db.exec(SCHEMA)
    this.#insert = db.query(`INSERT INTO jobs (id, task, input, pipeline, state, priority, run_at, attempts, max_attempts,
      timeout_ms, progress, progress_message, idem_key, created_at, updated_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (idem_key) WHERE idem_key IS NOT NULL DO NOTHING`)
    this.#byId = db.query(`SELECT ${COLS} FROM jobs WHERE id = ?1`)
    this.#byKey = db.query(`SELECT ${COLS} FROM jobs WHERE idem_key = ?1`)
    this.#result = db.query(`SELECT result FROM jobs WHERE id = ?1 AND state = 'succeeded'`)
    this.#claim = db.query(`UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?1, updated_at = ?1,
      progress = 0, progress_message = ''
      WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_due WHERE state = 'queued' AND run_at <= ?1 ORDER BY priority DESC, run_at, id LIMIT ?2)
      RETURNING ${COLS}`)
    this.#nextRunAt = db.query(`SELECT min(run_at) AS t FROM jobs WHERE state = 'queued'`)
    this.#progress = db.query(`UPDATE jobs SET progress = ?1, progress_message = ?2, updated_at = ?3
      WHERE id = ?4 AND state = 'running' RETURNING id`)
    this.#complete = db.query(`UPDATE jobs SET state = 'succeeded', result = ?1, progress = 100, error_code = NULL,
      error_message = NULL, finished_at = ?2, updated_at = ?2 WHERE id = ?3 AND state = 'running' RETURNING ${COLS}`)
    this.#fail = db.query(`UPDATE jobs SET state = 'failed', error_code = ?1, error_message = ?2, finished_at = ?3,
      updated_at = ?3 WHERE id = ?4 AND state = 'running' RETURNING ${COLS}`)
    this.#retry = db.query(`UPDATE jobs SET state = 'queued', run_at = ?1, error_code = ?2, error_message = ?3,
      updated_at = ?4 WHERE id = ?5 AND state = 'running' RETURNING ${COLS}`)
    this.#release = db.query(`UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), run_at = ?1, updated_at = ?2
      WHERE id = ?3 AND state = 'running' RETURNING ${COLS}`)
    this.#cancel = db.query(`UPDATE jobs SET state = 'canceled', error_code = 'job_canceled',
      error_message = 'The job was canceled', finished_at = ?1, updated_at = ?1
      WHERE id = ?2 AND state IN ('queued', 'running') RETURNING ${COLS}`)
    this.#recoverFail = db.query(`UPDATE jobs SET state = 'failed', error_code = 'worker_crashed',
      error_message = 'The server stopped while the job ran and no attempts are left', finished_at = ?1, updated_at = ?1
      WHERE state = 'running' AND attempts >= max_attempts RETURNING id`)
    this.#recoverRequeue = db.query(`UPDATE jobs SET state = 'queued', run_at = ?1, updated_at = ?1
      WHERE state = 'running' RETURNING id`)
    this.#sweep = db.query(`DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1
      AND state IN ('succeeded', 'failed', 'canceled') RETURNING id`)
    this.#counts = db.query(`SELECT state, count(*) AS n FROM jobs GROUP BY state`)
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

  /** The claim itself, run inside a group commit. */
  #claimRows(now: number, limit: number): Job[] {
    if (limit <= 0) return []
    const jobs = this.#claim.all(now, limit).map(toJob)
    // RETURNING has no defined order: restore the claim order.
    if (jobs.length > 1) jobs.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : 1))
    return jobs
  }

  claim(now: number, limit: number): Promise<Job[]> {
    return this.#write(() => this.#claimRows(now, limit))
  }

  async nextRunAt(): Promise<number | undefined> {
    return this.#read('read the job queue', () => this.#nextRunAt.get())?.t ?? undefined
  }

  progress(id: string, pct: number, message: string, now: number): Promise<boolean> {
    return this.#write(() => runReturning(this.#progress, pct, message, now, id) !== null)
  }

  complete(id: string, result: Uint8Array, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#complete, result, now, id)
      return r ? toJob(r) : undefined
    })
  }

  fail(id: string, error: JobError, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#fail, error.code, error.message, now, id)
      return r ? toJob(r) : undefined
    })
  }

  retry(id: string, runAt: number, error: JobError, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#retry, runAt, error.code, error.message, now, id)
      return r ? toJob(r) : undefined
    })
  }

  release(id: string, runAt: number, now: number): Promise<Job | undefined> {
    return this.#write(() => {
      const r = runReturning(this.#release, runAt, now, id)
      return r ? toJob(r) : undefined
    })
  }

  cancel(id: string, now: number): Promise<{ job: Job; from: JobState } | undefined> {
    return this.#write(() => this.#cancelOne(id, now))
  }

  recover(now: number): Promise<{ requeued: number; failed: number }> {
    return this.#write(() => {
      const failed = this.#recoverFail.all(now).length
      const requeued = this.#recoverRequeue.all(now).length
      return { requeued, failed }
    })
  }

  sweep(before: number): Promise<number> {
    return this.#write(() => this.#sweep.all(before).length)
  }

  async counts(): Promise<Record<JobState, number>> {
    const out: Record<JobState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 }
    for (const { state, n } of this.#read('count the jobs', () => this.#counts.all())) out[state] = n
    return out
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
    this.#commits.flush()
    this.#db.close()
  }
}

/**
 * Opens (creating if needed) the job store at `path`.
 *
 * @example const store = openSqliteJobStore(':memory:')
 */
export function openSqliteJobStore(path: string): SqliteJobStore {
  return new SqliteJobStore(openDatabase(path))
}
