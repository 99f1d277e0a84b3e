/**
 * One way to open a bun:sqlite database for a server: WAL, sane pragmas, parent directory made.
 *
 * Why these pragmas:
 * - `journal_mode=WAL`: readers never block the writer and vice versa, so GETs keep flowing while
 *   a POST commits, and several processes (`REUSE_PORT`) can share one file.
 * - `synchronous=NORMAL`: in WAL mode a commit survives a process crash; only an OS crash or power
 *   loss can lose the last transactions. FULL would add an fsync to every commit.
 * - `busy_timeout`: a second connection (another process, or a job runner) that finds the write
 *   lock taken waits up to this long instead of failing at once with SQLITE_BUSY.
 * - `foreign_keys=ON`: SQLite leaves them off by default for backwards compatibility.
 * - `locking_mode=EXCLUSIVE`, only when asked ({@link OpenDatabaseOptions.exclusive}): one process
 *   owns the file and reads skip the per-transaction file locks.
 * - `wal_autocheckpoint=1000` (SQLite's default, stated so it is not lost): a commit that leaves
 *   1000+ pages (~4 MB) in the WAL copies them back into the database, and the next write starts
 *   the WAL over from its beginning. That hook runs only when a statement is stepped to its end:
 *   see {@link runReturning} for the write that silently skipped it.
 * - `journal_size_limit` ({@link WAL_SIZE_LIMIT}): a WAL restarted after a checkpoint is cut back
 *   to this size, so one burst (a big group commit, a checkpoint held off by a reader) does not
 *   keep its disk space for the life of the file.
 *
 * `strict: true` lets statements bind `$name` parameters from `{ name }` objects and throws on a
 * missing binding instead of silently binding NULL.
 *
 * @example
 * ```ts
 * const db = openDatabase(join(config.dataDir, 'users.sqlite'))
 * db.query('select 1 as one').get() // { one: 1 }
 * db.close()
 * ```
 */
import { Database, SQLiteError, type SQLQueryBindings, type Statement } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { AppError } from '../errors.ts'

/**
 * Bytes a WAL file is truncated to when SQLite restarts it (`PRAGMA journal_size_limit`): twice
 * the ~4 MB a WAL reaches between two automatic checkpoints, so the steady state never pays a
 * truncate and regrow.
 *
 * @example db.query('PRAGMA journal_size_limit').get() // { journal_size_limit: WAL_SIZE_LIMIT }
 */
export const WAL_SIZE_LIMIT = 8 * 1024 * 1024

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Milliseconds a connection waits for a lock held by another connection (default 5000). */
  busyTimeoutMs?: number
  /**
   * `locking_mode=EXCLUSIVE`: this connection takes the file's lock at its first access and keeps
   * it until closed, so no other connection or process can open the file meanwhile. In return a
   * read takes no file locks: in WAL mode with shared locking every read transaction costs two
   * fcntl() calls and an fstat() (strace), and a point read measured 3.0 µs against 0.6 µs
   * exclusive on this machine (a prepared `SELECT … WHERE id = ?` in a loop, 2026-11-22).
   */
  exclusive?: boolean
  /**
   * The busy timeout once the store is set up (its schema made), for the requests it then
   * serves; the open itself waits {@link OpenDatabaseOptions.busyTimeoutMs}. See
   * {@link SHARED_BUSY_SYNC_MS}. Applied by {@link openStore}.
   */
  requestBusyTimeoutMs?: number
}

/**
 * How the users and messages stores are opened: {@link OpenDatabaseOptions} and how long their
 * group commit may wait off the event loop for another process's write lock.
 *
 * @example SqliteUserStore.open(path, { exclusive: false, requestBusyTimeoutMs: SHARED_BUSY_SYNC_MS, busyRetryMs: SHARED_WRITE_WAIT_MS })
 */
export interface StoreOpenOptions extends OpenDatabaseOptions {
  /** See ./group-commit.ts `busyRetryMs` (default 0: a write that finds the lock taken past the busy timeout fails at once). */
  busyRetryMs?: number
}

/**
 * How long a shared connection's busy handler may block the event loop waiting for another
 * process's write lock before the group commit gives the loop back and tries again from a timer
 * (./group-commit.ts): jobs, users and messages when shared.
 *
 * Why: SQLite waits for a lock inside its busy handler, sleeping on the calling thread, which for
 * a server is the event loop: every request of the process waits with it. The handler sleeps 1,
 * 2, then 2 ms more before giving up at 5 ms, so a lock released within a few ms (another
 * process's group commit) is still taken without a round trip through the timer.
 *
 * @example openDatabase(path, { busyTimeoutMs: SHARED_BUSY_SYNC_MS })
 */
export const SHARED_BUSY_SYNC_MS = 5

/**
 * How long a write to a shared users or messages database (`SQLITE_LOCKING=shared` or several
 * processes) may wait for another process's write lock before it answers 503 `storage_busy` with
 * `Retry-After: 1`. The wait is off the event loop (the group commit retries `BEGIN` from a
 * timer, blocking at most {@link SHARED_BUSY_SYNC_MS} per try), so it freezes nothing; it bounds
 * how long a client waits when something holds the lock unusually long (a transaction left open
 * in a `sqlite3` shell). A second, the client's own `Retry-After`.
 *
 * Before the group commit each request waited inside SQLite's busy handler, on the event loop,
 * for at most 100 ms: under two processes writing, `POST /users` with `PROCESSES=2` made fewer
 * req/s than one process (bench/peers, all cores: 7 346 against 9 643 on one core, p99 89 ms).
 * `bun bench/storage/shared-writes.ts` now: writes/s x2, `/healthz` p99 100 -> 18 ms, no 503
 * either way (docs/users-files.md#shared-by-several-processes).
 *
 * @example SqliteUserStore.open(path, { exclusive: false, requestBusyTimeoutMs: SHARED_BUSY_SYNC_MS, busyRetryMs: SHARED_WRITE_WAIT_MS })
 */
export const SHARED_WRITE_WAIT_MS = 1000

/**
 * Opens (creating if needed, with its directory) a SQLite database with WAL and the pragmas above.
 * `':memory:'` opens a private in-memory database (WAL does not apply there).
 *
 * @example
 * ```ts
 * const db = openDatabase('./data/jobs.sqlite', { busyTimeoutMs: 10_000 })
 * ```
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path, { create: true, strict: true })
  try {
    db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`)
    // Before WAL: an exclusive connection then keeps the WAL index in its own memory, not in a
    // shared-memory file.
    if (options.exclusive === true) db.run('PRAGMA locking_mode = EXCLUSIVE')
    db.run('PRAGMA journal_mode = WAL')
    db.run('PRAGMA wal_autocheckpoint = 1000')
    db.run(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`)
    db.run('PRAGMA synchronous = NORMAL')
    db.run('PRAGMA foreign_keys = ON')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/**
 * Opens `path` with {@link openDatabase}, lets `setup` build the store on it (schema, statements),
 * then sets the request busy timeout if one is given; closes the database if `setup` throws.
 *
 * @example
 * ```ts
 * static open(path: string, options: OpenDatabaseOptions = {}): UserStore {
 *   return openStore(path, options, (db) => new UserStore(db))
 * }
 * ```
 */
export function openStore<T>(path: string, options: OpenDatabaseOptions, setup: (db: Database) => T): T {
  return retryBusyAtOpen(() => {
    const db = openDatabase(path, options)
    try {
      const store = setup(db)
      if (options.requestBusyTimeoutMs !== undefined) db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.requestBusyTimeoutMs))}`)
      return store
    } catch (err) {
      db.close()
      throw err
    }
  })
}

/** How long {@link retryBusyAtOpen} keeps trying, ms. */
export const OPEN_BUSY_RETRY_MS = 5000

/**
 * Runs `open` again while it fails with SQLITE_BUSY/SQLITE_LOCKED, for up to
 * {@link OPEN_BUSY_RETRY_MS}. Processes starting together on one DATA_DIR (a cluster's first
 * start, a roll) race to switch a new file to WAL and create its tables; some of those steps
 * report SQLITE_BUSY at once rather than through the busy handler (measured: 1 start in a few
 * hundred under load failed with "locked by another process"). Only at start, before anything is
 * served, so the short sleeps block nobody.
 *
 * @example const db = retryBusyAtOpen(() => openDatabase(path))
 */
export function retryBusyAtOpen<T>(open: () => T): T {
  const until = performance.now() + OPEN_BUSY_RETRY_MS
  for (let pause = 5; ; pause = Math.min(100, pause * 2)) {
    try {
      return open()
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? '')
      const busy = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')
      if (!busy || performance.now() + pause > until) throw err
      Bun.sleepSync(pause)
    }
  }
}

/**
 * Finalizes `statements`, then closes `db`. bun:sqlite's close() otherwise defers the real close
 * until every prepared statement is garbage-collected (sqlite3_close_v2), and with
 * {@link OpenDatabaseOptions.exclusive} the file would stay locked until then.
 *
 * @example closeDatabase(db, [insert, get])
 */
export function closeDatabase(db: Database, statements: Iterable<{ finalize(): void }>): void {
  for (const s of statements) s.finalize()
  db.close()
}

/**
 * Runs a write with `RETURNING` and gives its first row (or null). Always use this, never
 * `statement.get()`, for a statement that writes.
 *
 * Why: bun:sqlite's `get()` steps once, takes the row and resets the statement. For an
 * INSERT/UPDATE/DELETE … RETURNING the first step returns the row before the statement is done,
 * so the autocommit transaction is committed by sqlite3_reset(), and SQLite runs its WAL hook
 * (the automatic checkpoint) only when sqlite3_step() returns SQLITE_DONE. Every such commit left
 * the WAL un-checkpointed: `POST /users` grew users.sqlite-wal by ~13 KB per insert, without end
 * (40 MB after 3 000 inserts, 2.2 GB after 15 s of load), and shutdown then spent seconds folding it
 * back. `all()` steps to SQLITE_DONE, so the commit happens in the step and the hook runs.
 *
 * @example
 * ```ts
 * const row = runReturning(db.prepare('DELETE FROM users WHERE id = ?1 RETURNING id'), 7) // { id: 7 } or null
 * ```
 */
export function runReturning<R, P extends SQLQueryBindings[]>(statement: Statement<R, P>, ...params: P): R | null {
  const rows = statement.all(...params)
  return rows.length === 0 ? null : (rows[0] as R)
}

/** Seconds a client is told to wait (`Retry-After`) per storage failure. */
const STORAGE_RETRY_AFTER = { full: 30, busy: 1, readOnly: 30, io: 5 } as const

// Primary result codes (the low byte of an extended code): https://sqlite.org/rescode.html
const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6
const SQLITE_READONLY = 8
const SQLITE_IOERR = 10
const SQLITE_FULL = 13
const SQLITE_CANTOPEN = 14

/**
 * The {@link AppError} a SQLite failure means for a client, or `err` unchanged when it is not one
 * the client can do anything about (a bug, a corrupt file: those stay a logged 500):
 *
 * - `SQLITE_FULL` (disk or quota full) → 507 `insufficient_storage`, Retry-After 30 s;
 * - `SQLITE_BUSY`/`SQLITE_LOCKED` (another process holds the write lock past the busy timeout)
 *   → 503 `storage_busy`, Retry-After 1 s;
 * - `SQLITE_READONLY` (file or filesystem made read-only under the server) → 503
 *   `storage_read_only`, Retry-After 30 s;
 * - `SQLITE_IOERR`/`SQLITE_CANTOPEN` (the disk failed a read or write) → 503
 *   `storage_unavailable`, Retry-After 5 s.
 *
 * None of these break the connection: once space (or the lock, or the disk) is back, the next
 * statement works without a restart. `what` names the operation in the message.
 *
 * @example
 * ```ts
 * try { insert.run(...) } catch (err) { throw storageError(err, 'store the user') }
 * ```
 */
export function storageError(err: unknown, what: string): unknown {
  if (!(err instanceof SQLiteError)) return err
  switch (err.errno & 0xff) {
    case SQLITE_FULL:
      return new AppError('insufficient_storage', `Cannot ${what}: the server's disk is full; retry later`, { retryAfter: STORAGE_RETRY_AFTER.full, cause: err })
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new AppError('storage_busy', `Cannot ${what}: the database is locked by another writer; retry`, { retryAfter: STORAGE_RETRY_AFTER.busy, cause: err })
    case SQLITE_READONLY:
      return new AppError('storage_read_only', `Cannot ${what}: the database is read-only on the server; retry later`, { retryAfter: STORAGE_RETRY_AFTER.readOnly, cause: err })
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return new AppError('storage_unavailable', `Cannot ${what}: the server's disk failed the operation; retry later`, { retryAfter: STORAGE_RETRY_AFTER.io, cause: err })
    default:
      return err
  }
}

/** The settings that decide {@link sharedDatabases} (a structural slice of the `Config`). */
export interface LockingSettings {
  sqliteLocking: 'auto' | 'exclusive' | 'shared'
  reusePort: boolean
  processes: number
  clusterSlot: number
}

/**
 * Whether DATA_DIR's databases are shared with other processes on this host
 * (`SQLITE_LOCKING=shared`, or `auto` with `REUSE_PORT` or `PROCESSES` > 1): then each connection
 * takes SQLite's file locks per transaction instead of holding the file exclusively.
 *
 * @example sharedDatabases({ sqliteLocking: 'auto', reusePort: false, processes: 2, clusterSlot: 0 }) // true
 */
export function sharedDatabases(config: LockingSettings): boolean {
  if (config.sqliteLocking !== 'auto') return config.sqliteLocking === 'shared'
  return config.reusePort || config.processes > 1 || config.clusterSlot > 0
}

/**
 * How the server opens users.sqlite and messages.sqlite: exclusively when it owns DATA_DIR, else
 * shared, with the short busy wait on the loop ({@link SHARED_BUSY_SYNC_MS}) and the longer one
 * off it ({@link SHARED_WRITE_WAIT_MS}).
 *
 * @example SqliteUserStore.open(path, storeLocking(config))
 */
export function storeLocking(config: LockingSettings): StoreOpenOptions {
  return sharedDatabases(config) ? { exclusive: false, requestBusyTimeoutMs: SHARED_BUSY_SYNC_MS, busyRetryMs: SHARED_WRITE_WAIT_MS } : { exclusive: true }
}
