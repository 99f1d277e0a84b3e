/**
 * The jobs table of `jobs.sqlite`: its schema, its migration, and rows to {@link Job}s.
 *
 * Migration: files written before leases lack `owner`, `token` and `lease_until`; they are added
 * in place (`ALTER TABLE … ADD COLUMN`, inside `BEGIN IMMEDIATE`, so processes starting together
 * on one file add each column once). A job such a file still has `running` was left by a stopped
 * server; its `lease_until` of 0 has long expired, so the first claim takes it back.
 *
 * @example
 * ```ts
 * migrateJobs(db)
 * const job = toJob(db.query(`SELECT ${COLS} FROM jobs WHERE id = ?1`).get(id) as Row)
 * ```
 */
import type { Database } from 'bun:sqlite'
import type { Job, JobState, PipelineStage } from './model.ts'

/** The table as of the first release plus the lease columns (new files get them here). */
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
  finished_at INTEGER,
  owner TEXT NOT NULL DEFAULT '',
  token INTEGER NOT NULL DEFAULT 0,
  lease_until INTEGER NOT NULL DEFAULT 0
);
-- Partial: most jobs carry no key, and NULLs would still cost an index entry per insert.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem_key ON jobs (idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_queued_run_at ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_state_id ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_task_id ON jobs (task, id);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
`

/** Columns added after the first schema, with their definitions (in order). */
const ADDED: ReadonlyArray<[string, string]> = [
  ['owner', "TEXT NOT NULL DEFAULT ''"],
  ['token', 'INTEGER NOT NULL DEFAULT 0'],
  ['lease_until', 'INTEGER NOT NULL DEFAULT 0'],
]

// Needs the lease columns: created after the migration. Expired leases are found through it.
const LEASE_INDEX = `CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (lease_until) WHERE state = 'running'`

/**
 * Creates the table and indexes if missing and adds the lease columns to an older file, in one
 * `BEGIN IMMEDIATE` (another process doing the same waits, then finds the columns there).
 *
 * @example migrateJobs(openDatabase(join(dataDir, 'jobs.sqlite')))
 */
export function migrateJobs(db: Database): void {
  db.run('BEGIN IMMEDIATE')
  try {
    db.exec(SCHEMA)
    const have = new Set(db.query<{ name: string }, []>('PRAGMA table_info(jobs)').all().map((c) => c.name))
    for (const [name, def] of ADDED) if (!have.has(name)) db.run(`ALTER TABLE jobs ADD COLUMN ${name} ${def}`)
    db.run(LEASE_INDEX)
    db.run('COMMIT')
  } catch (err) {
    if (db.inTransaction) db.run('ROLLBACK')
    throw err
  }
}

/** Every column but the result and the lease: job rows travel without their (possibly large) result bytes. */
export const COLS = `id, task, input, pipeline, state, priority, run_at, attempts, max_attempts, timeout_ms,
  progress, progress_message, error_code, error_message, idem_key, created_at, updated_at, started_at, finished_at`

/** A row of {@link COLS}. */
export interface Row {
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

/** A row as a {@link Job}. @example toJob(row).state */
export function toJob(r: Row): Job {
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
