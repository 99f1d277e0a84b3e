/**
 * `highperf --check`: validates the settings and the files they name, then exits without serving:
 * 0 when a start would get past its checks, 2 otherwise. For CI/CD pipelines and for checking a
 * new configuration before restarting a running server.
 *
 * The checks are the server's own start-up checks (src/startup), in its order, so a problem is
 * reported in the words a failed start would use:
 * - the settings (already parsed by `loadConfig`: a bad value never gets here, main.ts exits 2);
 * - `TLS_CERT_FILE` / `TLS_KEY_FILE`: readable PEM, the key the certificate's;
 * - `DATA_DIR`: a writable directory. Like a start, it is created when missing;
 * - each database in it, when present: a regular, readable and writable file that SQLite opens
 *   (read-only) and finds sound (`PRAGMA quick_check`). A database held by a running server in
 *   exclusive locking mode cannot be opened from here: that is reported and not counted as a
 *   failure (checking a new configuration next to the running server is the common case);
 * - `DATABASE_URL`, when set: PostgreSQL answers a `SELECT 1` within 5 s (the tables are created
 *   at start, not here);
 * - `JOBS_URL`, when set: its Redis answers a PING (PostgreSQL a `SELECT 1`) within 5 s;
 * - `RATE_LIMIT_URL`, when set: its Redis answers a PING within 5 s, else a warning (a start
 *   limits per process until it does);
 * - `FILES_DIR`: a readable directory. A missing one is a warning, as at start (it answers 404s);
 * - `ACCESS_LOG` naming a file: the file (or the directory it would be created in) is writable.
 *   Nothing is created.
 * The listening address is not tried: the server being replaced usually holds it.
 *
 * @example
 * ```sh
 * highperf --check && systemctl restart highperf
 * ```
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { Config } from '../config.ts'
import { DATABASES } from '../ops/backup.ts'
import { openReadOnly } from '../ops/read-only.ts'
import { SQL } from 'bun'
import { checkTlsFiles, connectAtStart, openAccessLogAtStart, openAtStart, prepareDataDir, StartupError } from '../startup/index.ts'
import { errorCode, shortReason } from '../startup/error.ts'
import { stdio, type Output } from './output.ts'

/** Exit code of a failed check: the same as a bad setting. */
export const CHECK_FAILED = 2

/** One check's outcome. */
type Verdict = { level: 'ok' | 'warning' | 'error'; text: string }

function databaseVerdicts(dataDir: string): Verdict[] {
  const out: Verdict[] = []
  for (const name of DATABASES) {
    const path = join(dataDir, `${name}.sqlite`)
    if (!existsSync(path)) {
      out.push({ level: 'ok', text: `${path} does not exist yet (created at start)` })
      continue
    }
    try {
      openAtStart(path, () => {
        const ro = openReadOnly(path, 200)
        try {
          const rows = ro.db.query('PRAGMA quick_check').all() as Array<{ quick_check: string }>
          const msgs = rows.map((r) => r.quick_check)
          if (msgs.length !== 1 || msgs[0] !== 'ok') {
            throw Object.assign(new Error(`PRAGMA quick_check: ${msgs.slice(0, 3).join('; ')}`), { code: 'SQLITE_CORRUPT' })
          }
        } finally {
          ro.close()
        }
      })
      out.push({ level: 'ok', text: `${path} is a sound database` })
    } catch (err) {
      const busy = err instanceof StartupError && errorCode(err.cause).startsWith('SQLITE_BUSY')
      if (busy) out.push({ level: 'ok', text: `${path} is held by a running server (exclusive locking): not opened` })
      else out.push({ level: 'error', text: err instanceof Error ? err.message : String(err) })
    }
  }
  return out
}

/** `DATABASE_URL` answers (the start would connect the same way), or the start-up line it would print. */
async function databaseUrlVerdict(url: string): Promise<Verdict> {
  try {
    await connectAtStart(url, async () => {
      const sql = new SQL(url, { max: 1, connectionTimeout: 5 })
      try {
        await sql`SELECT 1`
      } finally {
        await sql.close({ timeout: 0 })
      }
    })
    return { level: 'ok', text: `DATABASE_URL ${url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')} answers` }
  } catch (err) {
    return { level: 'error', text: err instanceof Error ? err.message : String(err) }
  }
}

/** `url` with its password masked, for a verdict. */
const masked = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')

/**
 * Why the Redis or PostgreSQL at `url` does not answer a PING / `SELECT 1` within `timeoutMs`
 * (refused, unknown host, wrong password, hung), or undefined when it does.
 */
async function serviceProblem(url: string, timeoutMs = 5000): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs) })
  const ask = async (): Promise<string | undefined> => {
    if (url.startsWith('postgres')) {
      const sql = new SQL(url, { max: 1, connectionTimeout: Math.ceil(timeoutMs / 1000) })
      try {
        await sql`SELECT 1`
      } finally {
        void sql.close({ timeout: 0 }).catch(() => {})
      }
      return undefined
    }
    const { Redis } = await import('ioredis')
    const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
    // The socket's own error (ECONNREFUSED, ENOTFOUND) says more than ioredis's "Connection is closed."
    let cause: unknown
    redis.on('error', (err: unknown) => { cause ??= err })
    try {
      await redis.connect()
      await redis.ping()
    } catch (err) {
      throw cause ?? err
    } finally {
      redis.disconnect()
    }
    return undefined
  }
  try {
    return await Promise.race([ask(), late])
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  } finally {
    clearTimeout(timer)
  }
}

/** `JOBS_URL` answers (a start waits 10 s for it, then fails), or the reason a start would give. */
async function jobsUrlVerdict(url: string): Promise<Verdict> {
  const problem = await serviceProblem(url)
  if (problem === undefined) return { level: 'ok', text: `JOBS_URL ${masked(url)} answers` }
  return { level: 'error', text: `JOBS_URL ${masked(url)} does not answer (${problem}); start Redis or PostgreSQL there, or fix JOBS_URL (unset: jobs on bun:sqlite in DATA_DIR)` }
}

/** `RATE_LIMIT_URL` answers; a start without it limits per process until it does: a warning. */
async function rateLimitUrlVerdict(url: string): Promise<Verdict> {
  const problem = await serviceProblem(url)
  if (problem === undefined) return { level: 'ok', text: `RATE_LIMIT_URL ${masked(url)} answers` }
  return { level: 'warning', text: `RATE_LIMIT_URL ${masked(url)} does not answer (${problem}): each process limits alone until it does` }
}

function filesDirVerdict(filesDir: string): Verdict {
  const dir = resolve(filesDir)
  let st
  try {
    st = statSync(dir)
  } catch (err) {
    const code = errorCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') return { level: 'warning', text: `FILES_DIR ${dir} does not exist: every /files/ request answers 404 until it does` }
    return { level: 'error', text: `FILES_DIR ${dir} cannot be read: ${shortReason(err)}` }
  }
  if (!st.isDirectory()) return { level: 'error', text: `FILES_DIR ${dir} is not a directory; set FILES_DIR (--files-dir) to the directory to serve` }
  try {
    accessSync(dir, constants.R_OK | constants.X_OK)
  } catch (err) {
    return { level: 'error', text: `FILES_DIR ${dir} is not readable: ${shortReason(err)}; make it readable or set FILES_DIR (--files-dir)` }
  }
  return { level: 'ok', text: `FILES_DIR ${dir} is a readable directory` }
}

/** The nearest existing ancestor of `path` (where `mkdir -p` would start). */
function nearestExisting(path: string): string {
  let p = path
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p)
  return p
}

function accessLogVerdict(accessLog: string): Verdict | undefined {
  if (accessLog === 'stdout' || accessLog === 'off' || accessLog === '') return undefined
  const path = resolve(accessLog)
  try {
    openAccessLogAtStart(accessLog, () => {
      if (existsSync(path)) {
        // The same errors an open for appending would give, without creating anything.
        if (statSync(path).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
        accessSync(path, constants.W_OK)
        return
      }
      const dir = nearestExisting(dirname(path))
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
      accessSync(dir, constants.W_OK | constants.X_OK)
    })
    return { level: 'ok', text: `ACCESS_LOG ${path} is writable` }
  } catch (err) {
    return { level: 'error', text: err instanceof Error ? err.message : String(err) }
  }
}

/**
 * Runs every check against `config`, prints one line per check and a summary; resolves with the
 * exit code (0 or {@link CHECK_FAILED}).
 *
 * @example process.exit(await checkConfig(config))
 */
export async function checkConfig(config: Config, out: Output = stdio()): Promise<number> {
  const verdicts: Verdict[] = [{ level: 'ok', text: 'settings are valid' }]
  const tlsOk = (() => {
    try {
      checkTlsFiles(config.tlsCertFile, config.tlsKeyFile)
      return true
    } catch (err) {
      verdicts.push({ level: 'error', text: err instanceof Error ? err.message : String(err) })
      return false
    }
  })()
  if (tlsOk && config.tlsCertFile !== '') verdicts.push({ level: 'ok', text: `TLS_CERT_FILE ${resolve(config.tlsCertFile)} and TLS_KEY_FILE ${resolve(config.tlsKeyFile)} are a certificate and its key` })
  let dataDir: string | undefined
  try {
    dataDir = prepareDataDir(config.dataDir)
    verdicts.push({ level: 'ok', text: `DATA_DIR ${dataDir} is a writable directory` })
  } catch (err) {
    verdicts.push({ level: 'error', text: err instanceof Error ? err.message : String(err) })
  }
  if (dataDir !== undefined) verdicts.push(...databaseVerdicts(dataDir))
  if (config.databaseUrl !== '') verdicts.push(await databaseUrlVerdict(config.databaseUrl))
  if (config.jobsUrl !== '') verdicts.push(await jobsUrlVerdict(config.jobsUrl))
  if (config.rateLimitUrl !== '') verdicts.push(await rateLimitUrlVerdict(config.rateLimitUrl))
  verdicts.push(filesDirVerdict(config.filesDir))
  const access = accessLogVerdict(config.accessLog)
  if (access) verdicts.push(access)

  for (const v of verdicts) {
    if (v.level === 'error') out.error(`error: ${v.text}`)
    else out.line(`${v.level}: ${v.text}`)
  }
  const errors = verdicts.filter((v) => v.level === 'error').length
  if (errors > 0) {
    out.error(`highperf --check: ${errors} problem${errors === 1 ? '' : 's'}; the server would not start`)
    return CHECK_FAILED
  }
  out.line('highperf --check: ok')
  return 0
}
