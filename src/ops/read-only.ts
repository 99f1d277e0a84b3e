/**
 * Opening a database that may belong to a running server, from another process, without changing
 * it: read-only, a short busy timeout, and no root-owned leftovers.
 *
 * Why the leftovers matter: a read-only connection to a WAL database whose server is stopped
 * creates a `-wal` and a `-shm` it may not delete. Made by root (an operator's `sudo highperf
 * backup`) in the data directory of a server running as another user, they would stop that server
 * at its next start (it cannot open them), so the ones this process created are given to the
 * database file's owner when it closes.
 *
 * @example
 * ```ts
 * const ro = openReadOnly('./data/users.sqlite')
 * try { ro.db.query('PRAGMA quick_check').all() } finally { ro.close() }
 * ```
 */
import { Database } from 'bun:sqlite'
import { chownSync, existsSync, statSync } from 'node:fs'

/** A read-only connection and its close. */
export interface ReadOnlyDatabase {
  db: Database
  /** Closes the connection and hands created `-wal`/`-shm` files to the database's owner. */
  close(): void
}

/**
 * Opens `path` read-only. A database held in exclusive locking mode by a server answers its first
 * read with SQLITE_BUSY after `busyTimeoutMs`.
 *
 * @example const ro = openReadOnly(path, 1000)
 */
export function openReadOnly(path: string, busyTimeoutMs = 1000): ReadOnlyDatabase {
  const side = [`${path}-wal`, `${path}-shm`]
  const existed = new Set(side.filter((f) => existsSync(f)))
  const db = new Database(path, { readonly: true })
  try {
    db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`)
  } catch (err) {
    db.close()
    throw err
  }
  let closed = false
  return {
    db,
    close() {
      if (closed) return
      closed = true
      db.close()
      if (process.getuid?.() !== 0) return
      let owner
      try { owner = statSync(path) } catch { return }
      for (const f of side) {
        if (existed.has(f)) continue
        try { chownSync(f, owner.uid, owner.gid) } catch { /* not created: nothing to give back */ }
      }
    },
  }
}
