/**
 * Writing a job's outcome (result, failure, retry, release) until the store takes it.
 *
 * Why: the outcome of a job that ran exists only in the runner's memory until its store write
 * commits. Dropping it on a refused write (a full disk) left the job `running` in the store until
 * the next restart, its result answering 202 forever. So a refused outcome is kept and written
 * again with backoff, without end while the failure is one that passes on its own
 * ({@link STORAGE_TRANSIENT}: space freed, a lock released), a few times for anything else; only a
 * stop of the server ends the retries, and then the job's lease expires and a claim takes it back.
 *
 * @example
 * ```ts
 * const job = await writeOutcome(() => store.complete(id, bytes, Date.now()), { id, what: 'result', log, signal })
 * ```
 */
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { backoffDelay, sleep } from '../sync/index.ts'

/**
 * Codes a {@link JobStore} reports a failure of its storage with that passes on its own (the
 * SQLite store: `storageError` in src/store/sqlite.ts): an outcome write refused with one of them
 * is retried until it lands.
 *
 * @example STORAGE_TRANSIENT.has(new AppError('insufficient_storage').code) // true
 */
export const STORAGE_TRANSIENT: ReadonlySet<string> = new Set(['insufficient_storage', 'storage_busy', 'storage_read_only', 'storage_unavailable'])

/**
 * The longest wait between two tries of an outcome write, ms: space freed is noticed this soon.
 *
 * @example backoffDelay(20, 50, MAX_OUTCOME_BACKOFF_MS, Math.random, 'equal') // 2500..5000
 */
export const MAX_OUTCOME_BACKOFF_MS = 5_000

/** Tries of a write refused for any other reason before {@link writeOutcome} gives up. */
const OTHER_WRITE_TRIES = 3

/** Options of {@link writeOutcome}. */
export interface WriteOutcomeOptions {
  /** The job's id, for the log. */
  id: string
  /** What is written ('result', 'failure', …), for the log. */
  what: string
  log: Logger
  /** Aborted when the server stops: the retries end and the last error is thrown. */
  signal: AbortSignal
  /** First backoff ceiling, ms (default 50; doubles up to {@link MAX_OUTCOME_BACKOFF_MS}). */
  baseMs?: number
  random?: () => number
}

/**
 * Calls `write` until it resolves: retried with equal-jitter backoff without end for a
 * {@link STORAGE_TRANSIENT} error, up to {@link OTHER_WRITE_TRIES} tries for any other; rejects
 * with the last error then, or once `signal` is aborted. Logs the first refusal and the
 * recovery, not every try.
 *
 * @example
 * ```ts
 * const failed = await writeOutcome(() => store.fail(id, error, now), { id, what: 'failure', log, signal })
 * ```
 */
export async function writeOutcome<T>(write: () => Promise<T>, options: WriteOutcomeOptions): Promise<T> {
  const { id, what, log, signal } = options
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await write()
      if (attempt > 1) log.info({ id, attempts: attempt }, `job ${what} recorded after the store refused it`)
      return out
    } catch (err) {
      const transient = err instanceof AppError && STORAGE_TRANSIENT.has(err.code)
      if (signal.aborted || (!transient && attempt >= OTHER_WRITE_TRIES)) throw err
      if (attempt === 1) log.warn({ err, id }, `cannot record the job ${what}; retrying until the store takes it`)
      // An abort ends the wait early; the loop then makes one last try and throws.
      await sleep(backoffDelay(attempt, options.baseMs ?? 50, MAX_OUTCOME_BACKOFF_MS, options.random, 'equal'), signal).catch(() => {})
    }
  }
}
