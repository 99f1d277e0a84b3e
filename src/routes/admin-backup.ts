/**
 * `POST /admin/backup`: the running server writes a consistent, verified copy of its users,
 * messages and jobs databases (src/ops/backup.ts) into a new timestamped folder of `BACKUP_DIR`
 * and answers with the report: the folder, each file's size and time, the total.
 *
 * Safe by construction:
 * - off unless `API_TOKEN` is set: then it answers 404 `not_found` saying how to turn it on. With
 *   a token, the front's auth stage already requires it on this POST; the handler checks it once
 *   more, so the route cannot be opened by a change to the stage list;
 * - the destination is the operator's (`BACKUP_DIR`, default `DATA_DIR/backups`) and the folder
 *   name the server's: a request body may not name a path (any field is a 422), so no client can
 *   make the server write elsewhere;
 * - one backup at a time: a second request while one runs answers 409 `backup_in_progress`.
 *
 * With `DATABASE_URL` users and messages live in PostgreSQL: the backup holds jobs only and its
 * report says so (`elsewhere`); PostgreSQL is backed up with its own tools (docs/operations.md#backups).
 *
 * A database the server holds in exclusive locking mode (users and messages by default) is copied
 * through the server's own connection, the only way in: requests wait while it is copied
 * (docs/operations.md#backups has the figures). The others (jobs always; all of them with
 * `SQLITE_LOCKING=shared`) are copied from a worker thread, and every copy is checked in one: the
 * event loop keeps serving.
 *
 * @example
 * ```sh
 * curl -X POST -H "authorization: Bearer $API_TOKEN" localhost:3000/admin/backup
 * # {"dir":"/srv/data/backups/2026-12-03T11-55-01.123Z","ms":41.2,"totalBytes":1462272,"databases":[...]}
 * ```
 */
import { Elysia, t } from 'elysia'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { WWW_AUTHENTICATE } from '../http/auth/index.ts'
import { TokenVerifier } from '../http/bearer-token.ts'
import { BackupError, newBackupDir, writeBackup, type BackupSource, type DatabaseName } from '../ops/backup.ts'
import { copyOffThread, OffThreadCopyError } from '../ops/off-thread.ts'
import { sharedDatabases } from '../store/sqlite.ts'
import { ErrorSchema } from './schemas.ts'

/** A store that can copy its database (SqliteUserStore, SqliteMessageStore, SqliteJobStore). */
export interface Copyable {
  copyTo(path: string): void
}

/** What the backup route needs: the settings, the log and the three stores. */
export interface AdminBackupDeps {
  config: Pick<Config, 'apiToken' | 'backupDir' | 'dataDir' | 'sqliteLocking' | 'reusePort' | 'processes' | 'clusterSlot' | 'databaseUrl'>
  log: Logger
  /** The users store: copied through it when it is a bun:sqlite one the server holds exclusively. */
  users: object
  messages: object
  /** The job runner's store; a store that cannot copy itself (another backend) is left out. */
  /** The jobs' embedded store; absent with JOBS_URL (then Redis or PostgreSQL is backed up on its own). */
  jobs: { store?: object | undefined }
}

/**
 * Where backups go: `BACKUP_DIR`, or `backups/` in `DATA_DIR` when unset.
 *
 * @example backupBase({ backupDir: '', dataDir: './data' }) // 'data/backups'
 */
export function backupBase(config: Pick<Config, 'backupDir' | 'dataDir'>): string {
  return config.backupDir === '' ? join(config.dataDir, 'backups') : config.backupDir
}

const EntrySchema = t.Object({
  name: t.Union([t.Literal('users'), t.Literal('messages'), t.Literal('jobs')]),
  file: t.String({ examples: ['users.sqlite'] }),
  bytes: t.Integer({ minimum: 0 }),
  ms: t.Number({ description: 'Copy and check, in ms' }),
  integrity: t.Literal('ok', { description: 'PRAGMA integrity_check of the copy' }),
})

const ReportSchema = t.Object({
  dir: t.String({ description: 'The new backup folder on the server', examples: ['/srv/data/backups/2026-12-03T11-55-01.123Z'] }),
  startedAt: t.String({ format: 'date-time' }),
  ms: t.Number({ description: 'Whole backup, in ms' }),
  totalBytes: t.Integer({ minimum: 0 }),
  databases: t.Array(EntrySchema),
  elsewhere: t.Optional(t.String({
    description: 'With DATABASE_URL: users and messages are in PostgreSQL, not in this backup; back them up with PostgreSQL\'s tools (pg_dump)',
    examples: ['users and messages are in PostgreSQL (DATABASE_URL), not in this backup: back them up with pg_dump or your provider\'s backups'],
  })),
})

/**
 * What a backup leaves out, in words for its report: users and messages when they live in
 * PostgreSQL (`DATABASE_URL`); undefined when every database is a file of DATA_DIR.
 *
 * @example elsewhere({ databaseUrl: 'postgres://db/app' }) // 'users and messages are in PostgreSQL …'
 */
export function elsewhere(config: Pick<Config, 'databaseUrl'>): string | undefined {
  if (config.databaseUrl === '') return undefined
  return 'users and messages are in PostgreSQL (DATABASE_URL), not in this backup: back them up with pg_dump or your provider\'s backups'
}

/**
 * How one database is copied: from a worker thread on a connection of its own when the server does
 * not hold the file exclusively (the event loop keeps serving), else through the server's own
 * connection (the only way in; requests wait for the copy). A worker that still finds the file
 * locked falls back to the server's connection.
 */
function source(name: DatabaseName, path: string, store: Partial<Copyable> | undefined, exclusive: boolean): BackupSource {
  return {
    name,
    async copyTo(to) {
      const own = typeof store?.copyTo === 'function' ? (store as Copyable) : undefined
      if (!exclusive || own === undefined) {
        try {
          await copyOffThread(path, to, 1000)
          return
        } catch (err) {
          if (own === undefined || !(err instanceof OffThreadCopyError && err.code.startsWith('SQLITE_BUSY'))) throw err
          rmSync(to, { force: true })
        }
      }
      own.copyTo(to)
    },
  }
}

function sourcesOf(deps: AdminBackupDeps): BackupSource[] {
  const { config } = deps
  // The rule src/deps.ts opens users and messages with; jobs are never opened exclusively.
  const exclusive = !sharedDatabases(config)
  // DATABASE_URL: users and messages are PostgreSQL's, not files of DATA_DIR.
  const sources = config.databaseUrl !== '' ? [] : [
    source('users', join(config.dataDir, 'users.sqlite'), deps.users, exclusive),
    source('messages', join(config.dataDir, 'messages.sqlite'), deps.messages, exclusive),
  ]
  if (deps.jobs.store === undefined) return sources
  const jobsStore = deps.jobs.store as Partial<Copyable>
  sources.push(source('jobs', join(config.dataDir, 'jobs.sqlite'), typeof jobsStore.copyTo === 'function' ? (jobsStore as Copyable) : undefined, false))
  return sources
}

/**
 * Reads the (MAX_BODY_SIZE-bounded) body: nothing or `{}` passes; malformed JSON is a 400 and
 * anything else, such as `{"to": "/etc"}`, a 422 saying where backups go instead.
 */
async function refuseFields(request: Request): Promise<void> {
  const text = (await request.text()).trim()
  if (text === '') return
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new AppError('invalid_json')
  }
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return
  throw new AppError('validation_failed', 'POST /admin/backup takes no fields: the server writes each backup into a new folder of its BACKUP_DIR, never to a path a request names')
}

/** Elysia plugin with `POST /admin/backup` (see the module comment). */
export function adminBackupRoutes(deps: AdminBackupDeps) {
  const token = deps.config.apiToken
  const verifier = token === '' ? undefined : new TokenVerifier(token)
  let running = false
  return new Elysia({ name: 'highperf/routes/admin-backup' }).post(
    '/admin/backup',
    async ({ request }) => {
      if (verifier === undefined) {
        throw new AppError('not_found', 'POST /admin/backup is off: it exists only when API_TOKEN is set (backups are then written under BACKUP_DIR); the command `highperf backup --to DIR` works without it')
      }
      if (!verifier.verifyHeader(request.headers.get('authorization'))) throw new AppError('unauthorized', undefined, { headers: { 'www-authenticate': WWW_AUTHENTICATE } })
      await refuseFields(request)
      if (running) throw new AppError('backup_in_progress', undefined, { retryAfter: 5 })
      running = true
      try {
        const dir = newBackupDir(backupBase(deps.config))
        const report = await writeBackup(sourcesOf(deps), dir, { removeDir: true })
        deps.log.info({ backup: report.dir, ms: report.ms, totalBytes: report.totalBytes }, 'backup written')
        const note = elsewhere(deps.config)
        return note === undefined ? report : { ...report, elsewhere: note }
      } catch (err) {
        if (!(err instanceof BackupError)) throw err
        deps.log.error({ err }, 'backup failed')
        if (err.code === 'disk_full') throw new AppError('insufficient_storage', `The backup could not be written: ${err.message}`, { retryAfter: 30, cause: err })
        throw new AppError('backup_failed', `The backup could not be written: ${err.message}`, { cause: err })
      } finally {
        running = false
      }
    },
    {
      // Read by the handler after the token check (refuseFields): an anonymous body is never parsed.
      parse: 'none',
      detail: {
        description: 'No body (or `{}`): the server alone chooses where the backup goes, a new timestamped folder of BACKUP_DIR; a body naming anything is a 422. 401 without the token; 409 while another backup runs; 500 `backup_failed` / 507 when it cannot be written (nothing is left half-written).',
        summary: 'Write a consistent, verified copy of the databases into a new folder of BACKUP_DIR (404 unless API_TOKEN is set)',
        tags: ['admin'],
      },
      response: { 200: ReportSchema, 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 422: ErrorSchema, 500: ErrorSchema, 507: ErrorSchema },
    },
  )
}
