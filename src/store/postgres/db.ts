/**
 * PostgreSQL through `Bun.sql` (built into Bun: no package): one connection pool per server,
 * shared by the users and messages stores, the schema created at start, and PostgreSQL's errors
 * mapped onto the same AppErrors as bun:sqlite's (src/store/sqlite.ts `storageError`).
 *
 * Two facts of Bun.sql 1.4.5 shape this module (docs/users-files.md#postgresql):
 * - `bigint`/`bigserial` columns come back as strings by default; with `bigint: true` they are
 *   BigInts, which the stores turn into numbers (`Number(id)`: ids stay far below 2^53, and the
 *   API's ids are JSON numbers whatever the backend).
 * - a server error carries its SQLSTATE in `errno` (`23505` for a unique violation); `code` is
 *   Bun's generic `ERR_POSTGRES_SERVER_ERROR`. Errors Bun raises itself (refused, closed, timed
 *   out connections) have no `errno` and an `ERR_POSTGRES_*` code.
 *
 * @example
 * ```ts
 * const pg = await openPostgres('postgres://app@db.internal/app')
 * const users = new PostgresUserStore(pg.sql)
 * await pg.close()
 * ```
 */
import { SQL } from 'bun'
import { AppError } from '../../errors.ts'

/** Options of {@link openPostgres}. */
export interface PostgresOptions {
  /** Connections in the pool (default 10, Bun's). */
  max?: number
  /**
   * Schema to create and use (`search_path`): tests give each run its own. Unset: the role's
   * default search path (normally `public`).
   */
  schema?: string
  /** Seconds to wait for a connection (default 5). */
  connectionTimeoutSec?: number
  /**
   * Milliseconds a query may take before it is cancelled and answered 503 (default
   * {@link QUERY_TIMEOUT_MS}): Bun.sql has no timeout of its own, and a hung server or network
   * would otherwise hold the request forever.
   */
  queryTimeoutMs?: number
  /**
   * How long to keep trying when the server refuses, resets, is starting up or shutting down at
   * open (default 0: one attempt). The server passes {@link START_WAIT_MS}, the wait JOBS_URL
   * gets too, so a database that comes up a few seconds after highperf does not fail the start.
   */
  startWaitMs?: number
  /** Called once, at the first failed attempt that will be retried (the start-up log line). */
  onRetry?: (err: unknown) => void
}

/** How long a server waits for `DATABASE_URL` at start (src/deps.ts), like `JOBS_URL` (src/jobs/bullmq/connection.ts). */
export const START_WAIT_MS = 10_000

/** Default of {@link PostgresOptions.queryTimeoutMs}. */
export const QUERY_TIMEOUT_MS = 5000

/** A query that did not settle within its time (mapped to 503 `storage_unavailable`). */
export class QueryTimeoutError extends Error {
  readonly code = 'ERR_POSTGRES_QUERY_TIMEOUT'
  constructor(ms: number) {
    super(`the query did not finish within ${ms} ms`)
    this.name = 'QueryTimeoutError'
  }
}

/** Runs a query bounded in time: what the stores call every query through. */
export type Bounded = <T>(query: SQL.Query<T>) => Promise<T>

/**
 * A {@link Bounded} runner: each query settles within `ms`, or is cancelled and rejects with a
 * {@link QueryTimeoutError}. One timer per query (a few µs against a round trip of ~40 µs).
 *
 * @example const run = bounded(5000); const rows = await run(sql`SELECT 1`)
 */
export function bounded(ms: number): Bounded {
  return <T>(query: SQL.Query<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        query.cancel()
        reject(new QueryTimeoutError(ms))
      }, ms)
    })
    return Promise.race([query, late]).finally(() => clearTimeout(timer))
  }
}

/** An open pool and what it was opened with. */
export interface Postgres {
  /** The pool: tagged-template queries. */
  readonly sql: SQL
  /** Runs one of its queries within the query timeout. */
  readonly run: Bounded
  /** The URL without its password, for messages and logs. */
  readonly where: string
  /** Closes the pool (waits for queries in flight up to 5 s). */
  close(): Promise<void>
}

// Two servers starting together would race on CREATE TABLE IF NOT EXISTS (PostgreSQL can then
// fail one with a duplicate pg_type row): the schema is created under this advisory lock.
const SCHEMA_LOCK = 0x68_70_66_01 // 'hpf' 1

/**
 * `url` without its password (`postgres://app:***@db/app`), for messages and logs.
 *
 * @example redactUrl('postgres://app:secret@db/app') // 'postgres://app:***@db/app'
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(an unparsable URL)'
  }
}

/**
 * Opens a pool on `url`, checks that the server answers, and creates `schema` (when given) and
 * the tables `ddl` lists (each `CREATE … IF NOT EXISTS`). Rejects with PostgreSQL's error when
 * the server cannot be reached (after `startWaitMs` of retries) or refuses: src/startup turns it
 * into a one-line start-up error.
 *
 * @example const pg = await openPostgres(config.databaseUrl, {}, [USERS_DDL, MESSAGES_DDL])
 */
export async function openPostgres(url: string, options: PostgresOptions = {}, ddl: readonly string[] = []): Promise<Postgres> {
  const schema = options.schema
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new RangeError(`schema ${JSON.stringify(schema)} is not a plain lower-case identifier`)
  const sql = new SQL(url, {
    max: options.max ?? 10,
    bigint: true,
    connectionTimeout: options.connectionTimeoutSec ?? 5,
    ...(schema !== undefined ? { connection: { search_path: schema } } : {}),
  })
  const startWaitMs = options.startWaitMs ?? 0
  const until = Date.now() + startWaitMs
  for (let attempt = 1; ; attempt++) {
    try {
      const setUp = sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`
        if (schema !== undefined) await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
        for (const statement of ddl) await tx.unsafe(statement)
      })
      // A port that accepts and never answers (a hung server, a firewall that drops) otherwise
      // holds each attempt for the pool's connectionTimeout (5 s) whatever the wait asked for:
      // START_WAIT=1s took 5.2 s to fail. The attempt gets what is left of the wait.
      await (startWaitMs > 0 ? withinStartWait(setUp, Math.max(1, until - Date.now())) : setUp)
      break
    } catch (err) {
      if (Date.now() < until && transientAtOpen(err)) {
        if (attempt === 1) options.onRetry?.(err)
        await Bun.sleep(250)
        continue
      }
      await sql.close({ timeout: 0 }).catch(() => {})
      throw err
    }
  }
  return {
    sql,
    run: bounded(options.queryTimeoutMs ?? QUERY_TIMEOUT_MS),
    where: redactUrl(url),
    close: () => sql.close({ timeout: 5 }),
  }
}

/**
 * The server did not answer within what was left of `startWaitMs` at open (the port accepted the
 * connection and said nothing). Its `code` reads as unreachable to {@link postgresError}.
 *
 * @example new StartWaitTimeoutError(1000).message // 'no answer within 1000 ms'
 */
export class StartWaitTimeoutError extends Error {
  readonly code = 'ERR_POSTGRES_CONNECTION_TIMEOUT'
  constructor(ms: number) {
    super(`no answer within ${ms} ms`)
    this.name = 'StartWaitTimeoutError'
  }
}

/**
 * `work`, or a {@link StartWaitTimeoutError} after `ms`; a late settling of `work` is ignored (the
 * pool is closed then). Not src/sync's `withTimeout`: src/store imports only errors.ts (docs/design.md).
 */
async function withinStartWait<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StartWaitTimeoutError(ms)), ms)
  })
  work.catch(() => {})
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Whether `err`, thrown by {@link openPostgres}, is the server being out of reach (refused,
 * reset, no answer, starting up) rather than a refusal that waiting would not change (no such
 * database, wrong credentials): start-up says how long it waited only for the first kind.
 *
 * @example transientAtOpen(new StartWaitTimeoutError(1000)) // true
 */
export function transientAtOpen(err: unknown): boolean {
  const state = sqlState(err)
  if (state.startsWith('28') || state === '3D000') return false // wrong credentials, no such database
  const mapped = postgresError(err, 'open')
  return mapped instanceof AppError && mapped.code === 'storage_unavailable'
}

/** Seconds a client is told to wait (`Retry-After`) per kind of PostgreSQL failure. */
const RETRY_AFTER = { unreachable: 5, busy: 1, full: 30, readOnly: 30 } as const

/** The SQLSTATE of a PostgreSQL server error, or '' (an error Bun raised itself, or another). */
export function sqlState(err: unknown): string {
  if (!(err instanceof SQL.PostgresError)) return ''
  return typeof err.errno === 'string' ? err.errno : ''
}

/** A unique violation (SQLSTATE 23505): the stores' 409. */
export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === '23505'
}

// Errors Bun's client raises itself when the server is out of reach (no SQLSTATE).
const UNREACHABLE = /CONNECTION|CLOSED|TIMEOUT|REFUSED|TLS|SOCKET|AUTHENTICATION/
const SYSTEM_UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

/**
 * The {@link AppError} a PostgreSQL failure means for a client, or `err` unchanged when it is a
 * bug (a syntax error, a bad cast: those stay a logged 500), like bun:sqlite's `storageError`:
 *
 * - out of reach (refused, reset, closed, timed out, no answer within the query timeout, shutting down, too many connections,
 *   SQLSTATE classes 08, 53 except disk full, 57P0x, 28) → 503 `storage_unavailable`, Retry-After 5 s;
 * - serialization failure, deadlock, lock not available, statement timeout → 503 `storage_busy`;
 * - disk full (53100) → 507 `insufficient_storage`;
 * - read-only transaction (25006, a standby) → 503 `storage_read_only`;
 * - text it cannot store (22021: a U+0000 in a string; 22P05) → 422 `validation_failed`.
 *
 * The pool reconnects by itself: once the server is back, the next query works.
 *
 * @example
 * ```ts
 * try { await sql`SELECT 1` } catch (err) { throw postgresError(err, 'read the user') }
 * ```
 */
export function postgresError(err: unknown, what: string): unknown {
  if (err instanceof AppError) return err
  const state = sqlState(err)
  const cause = { cause: err }
  const unavailable = () => new AppError('storage_unavailable', `Cannot ${what}: the database (PostgreSQL) is unreachable; retry later`, { retryAfter: RETRY_AFTER.unreachable, ...cause })
  if (state === '') {
    const code = (err as { code?: unknown } | null)?.code
    if (typeof code === 'string' && ((code.startsWith('ERR_POSTGRES_') && UNREACHABLE.test(code)) || SYSTEM_UNREACHABLE.has(code))) return unavailable()
    return err
  }
  // The routes refuse U+0000 in what they store (src/routes/schemas.ts STORED_TEXT); a field
  // that slipped past them is the client's text all the same, not a server fault.
  if (state === '22021' || state === '22P05') return new AppError('validation_failed', `Cannot ${what}: the text holds a character the database cannot store (U+0000)`, cause)
  if (state === '53100') return new AppError('insufficient_storage', `Cannot ${what}: the database server's disk is full; retry later`, { retryAfter: RETRY_AFTER.full, ...cause })
  if (state === '40001' || state === '40P01' || state === '55P03' || state === '57014') {
    return new AppError('storage_busy', `Cannot ${what}: the database is busy; retry`, { retryAfter: RETRY_AFTER.busy, ...cause })
  }
  if (state === '25006') return new AppError('storage_read_only', `Cannot ${what}: the database is read-only (a standby?); retry later`, { retryAfter: RETRY_AFTER.readOnly, ...cause })
  if (state.startsWith('08') || state.startsWith('53') || state.startsWith('57P') || state.startsWith('28') || state === '3D000') return unavailable()
  return err
}
