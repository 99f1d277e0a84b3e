/**
 * `DATABASE_URL=postgres://…`: users and messages on PostgreSQL, one `Bun.sql` pool for both,
 * tables created at start. The bun:sqlite stores stay the default (no DATABASE_URL).
 *
 * @example
 * ```ts
 * const pg = await openPostgresStores('postgres://app@db.internal/app')
 * await pg.users.create({ name: 'Ada', email: 'ada@example.com' })
 * await pg.close()
 * ```
 */
import { openPostgres, type PostgresOptions } from './db.ts'
import { MESSAGES_DDL, PostgresMessageStore } from './messages.ts'
import { PostgresUserStore, USERS_DDL } from './users.ts'

export { postgresError, redactUrl, isUniqueViolation, QUERY_TIMEOUT_MS, QueryTimeoutError, START_WAIT_MS, StartWaitTimeoutError, transientAtOpen, type PostgresOptions } from './db.ts'
export { PostgresUserStore, USERS_DDL } from './users.ts'
export { PostgresMessageStore, MESSAGES_DDL } from './messages.ts'

/** Both stores on one pool, and its `close`. */
export interface PostgresStores {
  users: PostgresUserStore
  messages: PostgresMessageStore
  /** The URL without its password. */
  where: string
  /** Closes the pool. */
  close(): Promise<void>
}

/**
 * Connects, creates the tables (and `options.schema`) if missing, and builds both stores.
 * Rejects when the server cannot be reached or refuses the connection.
 *
 * @example const { users, messages, close } = await openPostgresStores(config.databaseUrl)
 */
export async function openPostgresStores(url: string, options: PostgresOptions = {}): Promise<PostgresStores> {
  const pg = await openPostgres(url, options, [USERS_DDL, MESSAGES_DDL])
  return { users: new PostgresUserStore(pg.sql, pg.run), messages: new PostgresMessageStore(pg.sql, pg.run), where: pg.where, close: () => pg.close() }
}
