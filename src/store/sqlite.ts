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
import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Milliseconds a connection waits for a lock held by another connection (default 5000). */
  busyTimeoutMs?: number
}

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
    db.run('PRAGMA journal_mode = WAL')
    db.run('PRAGMA synchronous = NORMAL')
    db.run('PRAGMA foreign_keys = ON')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}
