/**
 * Group commit for bun:sqlite: every write of one event-loop turn runs in ONE transaction,
 * flushed by `setImmediate`, and each write's promise resolves only after that COMMIT returned.
 *
 * Used by the job store (src/jobs/sqlite-store.ts) and by the users and messages stores
 * (./users.ts, ./messages.ts).
 *
 * Why: a commit costs a WAL append and a lock round trip. bench/jobs/store.ts measured on this
 * loaded machine ~5.4 k inserts/s in autocommit (a transaction each) against ~61 k/s for 64
 * concurrent submitters grouped here (11x). Under load one turn carries dozens of submits, claims
 * and completions (or `POST /users`), so a `202` (a `201`) still means "committed" at a fraction
 * of the cost; an idle server pays one extra event-loop turn of latency. For `POST /users`
 * (./users.ts has the commands): one process x1.2-2.0 req/s at 0.55-0.67x the CPU per request;
 * two processes on one file (`PROCESSES=2`) x2.0-2.4 req/s, p99 101-111 -> 19-66 ms.
 *
 * A write that throws rejects its own promise only (SQLite rolls back that statement, not the
 * transaction); a failed COMMIT rejects every write of the batch, since none of it is durable.
 * One exception: on a full disk or an I/O error SQLite may roll back the whole transaction
 * itself (sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction"). The writes
 * already run are then undone, and the rest would each commit on their own in autocommit mode
 * while the final COMMIT fails and rejects them: the batch stops there and every write of it is
 * rejected with that error. Storage failures reach callers as their AppError (`storageError`:
 * 507 `insufficient_storage` for a full disk).
 *
 * Several processes on one file (`busyRetryMs`): SQLite's busy handler waits for another process's
 * write lock by sleeping in this thread, i.e. with the event loop frozen. A shared connection
 * keeps that wait short (`SHARED_BUSY_SYNC_MS`, ./sqlite.ts); when `BEGIN IMMEDIATE` still
 * finds the lock taken, the batch stays queued (new writes join it) and is tried again a few ms
 * later from a timer, the loop free meanwhile, until `busyRetryMs` has passed: then every write
 * of it is rejected `storage_busy`. Only `BEGIN` is retried: nothing of the batch has run yet.
 *
 * @example
 * ```ts
 * const commits = new GroupCommit(db)
 * const id = await commits.write(() => insert.run(...).lastInsertRowid, 'store the row')  // committed here
 * ```
 */
import { SQLiteError, type Database } from 'bun:sqlite'
import { storageError } from './sqlite.ts'

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** How long a batch may wait for another process's write lock, tried again off the loop, ms (default 0: fail at once). */
  busyRetryMs?: number
  /**
   * Called after each commit with how long the transaction held the loop, ms, and its writes
   * (benchmarks; the users store counts the commit towards its WAL flush, ./wal-flush.ts).
   */
  observe?: (ms: number, writes: number) => void
  /** The operation a storage error names when a write gives none ("Cannot write the job: …"); default `write`. */
  what?: string
}

// SQLITE_BUSY / SQLITE_LOCKED, primary codes (https://sqlite.org/rescode.html).
function isBusy(err: unknown): boolean {
  return err instanceof SQLiteError && ((err.errno & 0xff) === 5 || (err.errno & 0xff) === 6)
}

interface PendingWrite {
  run: () => unknown
  /** Named in its storage error's message: "Cannot store the user: …". */
  what: string
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/** Batches synchronous bun:sqlite writes into one transaction per event-loop turn. */
export class GroupCommit {
  readonly #db: Database
  readonly #o: GroupCommitOptions
  #batch: PendingWrite[] = []
  #scheduled = false
  /** When the batch first found the lock taken (0: it has not), and how many tries found it since. */
  #busySince = 0
  #busyTries = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined

  constructor(db: Database, options: GroupCommitOptions = {}) {
    this.#db = db
    this.#o = options
  }

  /**
   * Queues `run` for the next commit; resolves with its return value once committed. What `run`
   * throws rejects this write alone (a SQLite storage failure as its AppError, naming `what`).
   *
   * @example await commits.write(() => insert.run('Ada').changes, 'store the user')
   */
  write<T>(run: () => T, what = this.#o.what ?? 'write'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#batch.push({ run, what, resolve: resolve as (value: unknown) => void, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.flush)
      }
    })
  }

  /** Runs every pending write in one transaction now, then settles their promises. */
  readonly flush = (): void => {
    this.#scheduled = false
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    const ops = this.#batch
    this.#batch = []
    if (ops.length === 0) return
    const t0 = performance.now()
    try {
      this.#db.run('BEGIN IMMEDIATE')
    } catch (err) {
      const waited = this.#busySince === 0 ? 0 : Date.now() - this.#busySince
      if (isBusy(err) && waited < (this.#o.busyRetryMs ?? 0)) {
        if (this.#busySince === 0) this.#busySince = Date.now()
        // Keep the batch (writes queued meanwhile join it) and try again with the loop free, a
        // little later each time (2, 4, 8 … 32 ms, jittered): a lock held long costs the loop
        // at most the short busy wait per try.
        this.#batch = ops.concat(this.#batch)
        this.#scheduled = true
        // The shift stops at 4 (32 ms): `2 << 30` is negative, which made every try after the
        // 30th a 1 ms timer (a tight loop of 5 ms busy waits for the rest of the wait).
        const ceiling = 2 << Math.min(4, this.#busyTries++)
        this.#retryTimer = setTimeout(this.flush, ceiling / 2 + Math.random() * (ceiling / 2))
        return
      }
      this.#busySince = 0
      this.#busyTries = 0
      for (const op of ops) op.reject(storageError(err, op.what))
      return
    }
    this.#busySince = 0
    this.#busyTries = 0
    const outcomes: Array<{ ok: boolean; value: unknown }> = new Array(ops.length)
    try {
      for (let i = 0; i < ops.length; i++) {
        try {
          outcomes[i] = { ok: true, value: ops[i]!.run() }
        } catch (err) {
          // SQLite rolled the whole transaction back (see the module comment): nothing of the
          // batch holds, and nothing more may run outside a transaction.
          if (!this.#db.inTransaction) throw err
          outcomes[i] = { ok: false, value: storageError(err, ops[i]!.what) }
        }
      }
      this.#db.run('COMMIT')
      this.#o.observe?.(performance.now() - t0, ops.length)
    } catch (err) {
      try { this.#db.run('ROLLBACK') } catch { /* no transaction left to roll back */ }
      for (const op of ops) op.reject(storageError(err, op.what))
      return
    }
    for (let i = 0; i < ops.length; i++) {
      const o = outcomes[i]!
      if (o.ok) ops[i]!.resolve(o.value)
      else ops[i]!.reject(o.value)
    }
  }
}
