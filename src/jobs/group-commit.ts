/**
 * Group commit for bun:sqlite: every write of one event-loop turn runs in ONE transaction,
 * flushed by `setImmediate`, and each write's promise resolves only after that COMMIT returned.
 *
 * Why: a commit costs a WAL append and a lock round trip. bench/jobs/store.ts measured on this
 * loaded machine ~5.4 k inserts/s in autocommit (a transaction each) against ~61 k/s for 64
 * concurrent submitters grouped here (11x). Under load one turn carries dozens of submits, claims
 * and completions, so a `202` still means "committed" at a fraction of the cost; an idle server
 * pays one extra event-loop turn of latency.
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
 * @example
 * ```ts
 * const commits = new GroupCommit(db)
 * const id = await commits.write(() => insert.run(...).lastInsertRowid)  // committed here
 * ```
 */
import type { Database } from 'bun:sqlite'
import { storageError } from '../store/sqlite.ts'

interface PendingWrite {
  run: () => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/** Batches synchronous bun:sqlite writes into one transaction per event-loop turn. */
export class GroupCommit {
  readonly #db: Database
  #batch: PendingWrite[] = []
  #scheduled = false

  constructor(db: Database) {
    this.#db = db
  }

  /** Queues `run` for the next commit; resolves with its return value once committed. */
  write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#batch.push({ run, resolve: resolve as (value: unknown) => void, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.flush)
      }
    })
  }

  /** Runs every pending write in one transaction now, then settles their promises. */
  readonly flush = (): void => {
    this.#scheduled = false
    const ops = this.#batch
    this.#batch = []
    if (ops.length === 0) return
    const outcomes: Array<{ ok: boolean; value: unknown }> = new Array(ops.length)
    try {
      this.#db.run('BEGIN IMMEDIATE')
      for (let i = 0; i < ops.length; i++) {
        try {
          outcomes[i] = { ok: true, value: ops[i]!.run() }
        } catch (err) {
          // SQLite rolled the whole transaction back (see the module comment): nothing of the
          // batch holds, and nothing more may run outside a transaction.
          if (!this.#db.inTransaction) throw err
          outcomes[i] = { ok: false, value: storageError(err, 'write the job') }
        }
      }
      this.#db.run('COMMIT')
    } catch (err) {
      try { this.#db.run('ROLLBACK') } catch { /* no transaction left to roll back */ }
      const mapped = storageError(err, 'write the job')
      for (const op of ops) op.reject(mapped)
      return
    }
    for (let i = 0; i < ops.length; i++) {
      const o = outcomes[i]!
      if (o.ok) ops[i]!.resolve(o.value)
      else ops[i]!.reject(o.value)
    }
  }
}
