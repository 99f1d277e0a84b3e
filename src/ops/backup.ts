/**
 * Online backups of highperf's databases: each one copied with `VACUUM INTO` (one read
 * transaction, so the copy is a consistent snapshot while writes go on), written as
 * `<name>.sqlite.partial`, fsynced, checked with `PRAGMA integrity_check` on a connection of its
 * own in a worker thread (src/ops/off-thread.ts), and only then renamed to `<name>.sqlite`; a `backup.json` manifest with the sizes and times
 * is written last. A folder with a manifest is complete; one without is not a backup.
 *
 * Two callers: the running server (`POST /admin/backup`, src/routes/admin-backup.ts), which copies
 * through the connections it already holds, the only way in while it owns users/messages in
 * exclusive locking mode; and the CLI (`highperf backup`, src/cli/backup.ts), which opens the files
 * itself when no server holds them exclusively.
 *
 * Why VACUUM INTO and not `db.serialize()`: serialize pauses the caller about a third as long
 * (~1 ms against ~3 ms per MB here) but holds the whole database in memory, and a backup must not
 * be what pushes a large server out of its memory limit. bun:sqlite has no binding of SQLite's
 * incremental backup API (sqlite3_backup_step), so either way the copy is one synchronous call:
 * in the server it pauses the event loop for its duration (docs/operations.md#backups has the
 * figures); the databases are copied one at a time, requests being served while a copy is checked.
 *
 * @example
 * ```ts
 * const dir = newBackupDir('/var/backups/highperf')
 * const report = await writeBackup([{ name: 'users', copyTo: (p) => users.copyTo(p) }], dir)
 * report.databases[0] // { name: 'users', file: 'users.sqlite', bytes: 8192, ms: 1.2, integrity: 'ok' }
 * ```
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { integrityProblems } from './off-thread.ts'
import { openReadOnly } from './read-only.ts'

/** The manifest a complete backup folder holds: its {@link BackupReport}. */
export const MANIFEST = 'backup.json'

/** The databases of a DATA_DIR, in the order they are copied. */
export const DATABASES = ['users', 'messages', 'jobs'] as const

/** One database's name. */
export type DatabaseName = (typeof DATABASES)[number]

/** A database to copy: its name and how to write a consistent copy of it to a new file. */
export interface BackupSource {
  name: DatabaseName
  /** Writes a consistent copy to `path` (must not exist yet); throws (or rejects) on failure. */
  copyTo(path: string): void | Promise<void>
}

/** One copied database in a {@link BackupReport}. */
export interface BackupEntry {
  name: DatabaseName
  /** The file's name in the backup folder, e.g. `users.sqlite`. */
  file: string
  bytes: number
  /** Time of the copy and its check, in ms. */
  ms: number
  integrity: 'ok'
}

/** What a backup wrote, also its `backup.json` manifest. */
export interface BackupReport {
  /** Absolute path of the backup folder. */
  dir: string
  startedAt: string
  /** Whole backup, in ms. */
  ms: number
  totalBytes: number
  databases: BackupEntry[]
}

/** Why a backup failed; `message` names the database and the file. */
export type BackupErrorCode = 'backup_dir' | 'copy_failed' | 'integrity_failed' | 'disk_full'

/** A failed backup. Nothing of it is left behind: its folder is removed. */
export class BackupError extends Error {
  readonly code: BackupErrorCode
  constructor(code: BackupErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message.replace(/[\r\n]+/g, ' '), options)
    this.name = 'BackupError'
    this.code = code
  }
}

const codeOf = (err: unknown): string => {
  const c = (err as { code?: unknown } | null)?.code
  return typeof c === 'string' ? c : ''
}
const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/**
 * Creates a new, empty backup folder under `base` (made if missing, mode 0700: a backup holds every
 * user's data) named after the current UTC time, e.g. `2026-12-03T11-55-01.123Z`, and returns its
 * absolute path. The name is the server's, never a client's, and the folder is created with an
 * exclusive mkdir, so two backups never share one.
 *
 * @example newBackupDir('./data/backups') // '/srv/highperf/data/backups/2026-12-03T11-55-01.123Z'
 */
export function newBackupDir(base: string, now = new Date()): string {
  const root = resolve(base)
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new BackupError('backup_dir', `cannot create the backup directory ${root}: ${reasonOf(err)}`, { cause: err })
  }
  const stamp = now.toISOString().replaceAll(':', '-')
  for (let i = 0; ; i++) {
    const dir = join(root, i === 0 ? stamp : `${stamp}-${i}`)
    try {
      mkdirSync(dir, { mode: 0o700 })
      return dir
    } catch (err) {
      if (codeOf(err) === 'EEXIST' && i < 100) continue
      throw new BackupError('backup_dir', `cannot create a folder in the backup directory ${root}: ${reasonOf(err)}`, { cause: err })
    }
  }
}

/** fsync a file or a directory so a backup reported written survives a power cut. */
function syncPath(path: string): void {
  const fd = openSync(path, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
}

/** Copies and checks one database into `dir`; see the module comment for the steps. */
async function backupOne(source: BackupSource, dir: string): Promise<BackupEntry> {
  const started = performance.now()
  const file = `${source.name}.sqlite`
  const partial = join(dir, `${file}.partial`)
  try {
    await source.copyTo(partial)
  } catch (err) {
    const full = /SQLITE_FULL|ENOSPC|EDQUOT/.test(codeOf(err)) || /disk is full|database or disk is full/i.test(reasonOf(err))
    throw new BackupError(full ? 'disk_full' : 'copy_failed', `cannot copy ${file} to ${partial}: ${reasonOf(err)}`, { cause: err })
  }
  syncPath(partial)
  // Off the main thread: the check costs more than the copy, and the server serves meanwhile.
  const problems = await integrityProblems(partial)
  if (problems.length > 0) throw new BackupError('integrity_failed', `the copy of ${file} fails PRAGMA integrity_check: ${problems.slice(0, 3).join('; ')}`)
  const final = join(dir, file)
  renameSync(partial, final)
  // The folder is 0700 already; the file too, should it be copied out of it as it is.
  chmodSync(final, 0o600)
  return { name: source.name, file, bytes: statSync(final).size, ms: Math.round((performance.now() - started) * 10) / 10, integrity: 'ok' }
}

/**
 * Copies every source into `dir` (an empty folder, see {@link newBackupDir}), one at a time with a
 * turn of the event loop in between, then writes `backup.json`. On any failure the files it wrote
 * are removed (and `dir` too when `removeDir`) and a {@link BackupError} thrown.
 *
 * @example const report = await writeBackup(sources, newBackupDir(config.backupDir))
 */
export async function writeBackup(sources: readonly BackupSource[], dir: string, options: { removeDir?: boolean } = {}): Promise<BackupReport> {
  const startedAt = new Date().toISOString()
  const started = performance.now()
  const databases: BackupEntry[] = []
  try {
    for (const source of sources) {
      // Requests that arrived during one copy are served while its copy is checked.
      databases.push(await backupOne(source, dir))
    }
    const report: BackupReport = {
      dir,
      startedAt,
      ms: Math.round((performance.now() - started) * 10) / 10,
      totalBytes: databases.reduce((n, d) => n + d.bytes, 0),
      databases,
    }
    writeFileSync(join(dir, MANIFEST), `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 })
    syncPath(join(dir, MANIFEST))
    syncPath(dir)
    return report
  } catch (err) {
    if (options.removeDir === true) rmSync(dir, { recursive: true, force: true })
    else {
      for (const s of sources) for (const f of [`${s.name}.sqlite`, `${s.name}.sqlite.partial`]) rmSync(join(dir, f), { force: true })
      rmSync(join(dir, MANIFEST), { force: true })
    }
    if (err instanceof BackupError) throw err
    const code = codeOf(err)
    throw new BackupError(code === 'ENOSPC' || code === 'EDQUOT' ? 'disk_full' : 'copy_failed', `cannot write the backup in ${dir}: ${reasonOf(err)}`, { cause: err })
  }
}

/**
 * A {@link BackupSource} that opens the database file itself (read-only, src/ops/read-only.ts) and
 * copies it: for the CLI, when no server holds the file in exclusive locking mode. A file held that way answers
 * SQLITE_BUSY after `busyTimeoutMs`; the CLI then asks the server instead.
 *
 * @example writeBackup([fileSource('users', './data/users.sqlite')], dir)
 */
export function fileSource(name: DatabaseName, path: string, busyTimeoutMs = 1000): BackupSource {
  return {
    name,
    copyTo(to) {
      const ro = openReadOnly(path, busyTimeoutMs)
      try {
        ro.db.run('VACUUM INTO ?1', [to])
      } finally {
        ro.close()
      }
    },
  }
}

