/**
 * `highperf backup --to DIR`: a consistent, verified copy of the users, messages and jobs
 * databases of `DATA_DIR` while the server keeps serving writes (src/ops/backup.ts does the copy).
 * Prints the report as JSON on stdout: where each copy went, its size, how long it took, and
 * `via`: `files` or `server`.
 *
 * Two ways in, tried in this order:
 * 1. `files`: this process opens each database read-only and copies it. Works when no server
 *    runs, and alongside a server that shares its files (`SQLITE_LOCKING=shared`, or `REUSE_PORT`).
 * 2. `server`: by default (`SQLITE_LOCKING=auto` without `REUSE_PORT`) the server holds users and
 *    messages in exclusive locking mode and no other process can read them (SQLITE_BUSY, measured).
 *    Then this command says so on stderr and asks the running server, `POST /admin/backup` with
 *    `API_TOKEN`; the server writes the copy into its `BACKUP_DIR`, and this command copies the
 *    finished files into `--to DIR` and checks them again. Without `API_TOKEN` it stops and
 *    explains the choices.
 *
 * Exit codes: 0 written and verified, 1 the backup failed (nothing is left half-written in DIR),
 * 2 a bad command line or setting.
 *
 * @example
 * ```sh
 * highperf backup --to /var/backups/highperf/$(date +%F) --data-dir /srv/highperf/data
 * ```
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigError, loadConfig, parseDuration, type Config } from '../config.ts'
import { BackupError, DATABASES, fileSource, MANIFEST, writeBackup, type BackupReport } from '../ops/backup.ts'
import { integrityProblems } from '../ops/off-thread.ts'
import { splitArgs, UsageError } from './args.ts'
import { stdio, type Output } from './output.ts'
import { localServerUrl } from './server-url.ts'

/** `highperf backup --help`. */
export const BACKUP_HELP = `Usage: highperf backup --to DIR [--server URL] [--timeout DURATION] [--setting value ...]

Writes a consistent copy of the users, messages and jobs databases of DATA_DIR into DIR (new or
empty) while the server runs, checks each with PRAGMA integrity_check, and prints a JSON report.

When the running server holds the databases in exclusive locking mode (the default without
REUSE_PORT), no other process can read them: this command then asks the server through
POST /admin/backup (API_TOKEN must be set, here as on the server) and copies its backup into DIR.

  --to DIR             where the copies go (created; must be empty)
  --server URL         the running server to ask when needed [default: the server these
                       settings start, http(s)://HOST:PORT]
  --timeout DURATION   how long to wait for the server's backup [default: 10m]
  --help               print this help

Every setting's flag (--data-dir, --api-token…) and environment variable is read as the server reads it.
Restore: stop the server, put the three .sqlite files in DATA_DIR (removing any -wal/-shm there), start it.
With DATABASE_URL, users and messages are in PostgreSQL: only jobs.sqlite is copied (back PostgreSQL
up with pg_dump or your provider's backups).`

const DEFAULT_SERVER_TIMEOUT_MS = 600_000

/** A BackupError caused by another process's exclusive lock on a database. */
function lockedByServer(err: unknown): boolean {
  const cause = err instanceof BackupError ? (err.cause as { code?: unknown } | undefined) : undefined
  return typeof cause?.code === 'string' && cause.code.startsWith('SQLITE_BUSY')
}

/** The destination: created when missing, refused when it holds anything. */
function prepareDestination(to: string): { dir: string; created: boolean } {
  const dir = resolve(to)
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new UsageError(`--to ${dir} is a file, not a directory`)
    if (readdirSync(dir).length > 0) throw new UsageError(`--to ${dir} is not empty; name a new or empty directory (a backup never overwrites)`)
    return { dir, created: false }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  return { dir, created: true }
}

/** Asks the server for a backup (POST /admin/backup) and copies the result into `dir`. */
async function viaServer(config: Config, dir: string, server: string, verifyTls: boolean, timeoutMs: number, out: Output): Promise<BackupReport & { via: 'server'; serverDir: string }> {
  const url = `${server.replace(/\/+$/, '')}/admin/backup`
  if (config.apiToken === '') {
    throw new BackupError('copy_failed', `the databases in DATA_DIR are held in exclusive locking mode by a running server (SQLITE_LOCKING=auto without REUSE_PORT, or exclusive): no other process can read them. Either set API_TOKEN (the server's) so this command asks the server through POST ${url}, or run the server with SQLITE_LOCKING=shared, or stop it`)
  }
  out.error(`highperf backup: the databases are held in exclusive locking mode by the running server; asking it through POST ${url}`)
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${config.apiToken}`, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(timeoutMs),
      // The default URL is this host's own server over loopback: its certificate names another host.
      tls: { rejectUnauthorized: verifyTls },
    })
  } catch (err) {
    throw new BackupError('copy_failed', `cannot reach the server at ${url}: ${err instanceof Error ? err.message : String(err)} (--server URL names another)`, { cause: err })
  }
  const text = await res.text()
  if (res.status !== 200) {
    let message = text.slice(0, 300)
    try { message = (JSON.parse(text) as { error: { code: string; message: string } }).error.message } catch { /* not our envelope */ }
    throw new BackupError('copy_failed', `the server answered POST ${url} with ${res.status}: ${message}`)
  }
  const report = JSON.parse(text) as BackupReport
  // The server's copy is complete and no longer written to: plain file copies are consistent.
  const started = performance.now()
  try {
    for (const db of report.databases) {
      copyFileSync(join(report.dir, db.file), join(dir, db.file))
      const problems = await integrityProblems(join(dir, db.file))
      if (problems.length > 0) throw new BackupError('integrity_failed', `the copy of ${db.file} fails PRAGMA integrity_check: ${problems.slice(0, 3).join('; ')}`)
    }
    copyFileSync(join(report.dir, MANIFEST), join(dir, MANIFEST))
  } catch (err) {
    for (const name of [...DATABASES.map((n) => `${n}.sqlite`), MANIFEST]) rmSync(join(dir, name), { force: true })
    if (err instanceof BackupError) throw err
    throw new BackupError('copy_failed', `the server wrote its backup to ${report.dir}, but it cannot be copied from there into ${dir}: ${err instanceof Error ? err.message : String(err)}; it stays in ${report.dir}`, { cause: err })
  }
  return { ...report, dir, ms: Math.round((report.ms + performance.now() - started) * 10) / 10, via: 'server', serverDir: report.dir }
}

/**
 * Runs `highperf backup` with `argv` (after the subcommand's name) and `env`; resolves with the
 * exit code (see the module comment).
 *
 * @example process.exit(await backup(['--to', '/var/backups/hp'], process.env))
 */
export async function backup(argv: readonly string[], env: Record<string, string | undefined>, out: Output = stdio()): Promise<number> {
  let config: Config
  let to: string
  let server: string
  let verifyTls = false
  let timeoutMs = DEFAULT_SERVER_TIMEOUT_MS
  try {
    const { own, rest } = splitArgs(argv, { to: 'string', server: 'string', timeout: 'string', help: 'boolean' })
    if (own.help === true) {
      out.text(BACKUP_HELP)
      return 0
    }
    if (typeof own.to !== 'string' || own.to === '') throw new UsageError('--to DIR is required: the directory the copies go to')
    to = own.to
    if (typeof own.timeout === 'string') {
      const t = parseDuration(own.timeout)
      if (t === undefined || t <= 0) throw new UsageError(`--timeout is ${JSON.stringify(own.timeout)}; it accepts a duration such as 30s or 10m`)
      timeoutMs = t
    }
    const r = loadConfig(rest, env)
    if (r.kind !== 'config') throw new UsageError('--help, --version and --check are flags of highperf itself; use highperf backup --help')
    config = r.config
    if (typeof own.server === 'string') {
      let u: URL
      try { u = new URL(own.server) } catch { throw new UsageError(`--server is ${JSON.stringify(own.server)}; it accepts an http:// or https:// URL`) }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--server is ${JSON.stringify(own.server)}; it accepts an http:// or https:// URL`)
      server = u.origin
      verifyTls = true
    } else {
      server = localServerUrl(config)
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      out.error(`highperf backup: ${err.message}`)
      return 2
    }
    throw err
  }

  const dataDir = resolve(config.dataDir)
  // DATABASE_URL: users and messages live in PostgreSQL; only jobs is a file of DATA_DIR.
  const names = config.databaseUrl === '' ? DATABASES : DATABASES.filter((n) => n === 'jobs')
  const elsewhere = config.databaseUrl === '' ? undefined : 'users and messages are in PostgreSQL (DATABASE_URL), not in this backup: back them up with pg_dump or your provider\'s backups'
  if (elsewhere !== undefined) out.error(`highperf backup: ${elsewhere}`)
  const missing = names.filter((n) => !existsSync(join(dataDir, `${n}.sqlite`)))
  if (missing.length > 0) {
    out.error(`highperf backup: DATA_DIR ${dataDir} has no ${missing.map((n) => `${n}.sqlite`).join(', ')}: is it the server's DATA_DIR? (--data-dir)`)
    return 1
  }
  let dest: { dir: string; created: boolean }
  try {
    dest = prepareDestination(to)
  } catch (err) {
    out.error(`highperf backup: ${err instanceof Error ? err.message : String(err)}`)
    return err instanceof UsageError ? 2 : 1
  }
  try {
    let report: BackupReport & { via: 'files' | 'server'; serverDir?: string; elsewhere?: string }
    try {
      report = { ...(await writeBackup(names.map((n) => fileSource(n, join(dataDir, `${n}.sqlite`))), dest.dir)), via: 'files' }
    } catch (err) {
      if (!lockedByServer(err)) throw err
      report = await viaServer(config, dest.dir, server, verifyTls, timeoutMs, out)
    }
    if (elsewhere !== undefined) report = { ...report, elsewhere }
    out.text(JSON.stringify(report, null, 2))
    return 0
  } catch (err) {
    if (dest.created) rmSync(dest.dir, { recursive: true, force: true })
    out.error(`highperf backup: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
}
