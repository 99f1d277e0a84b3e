/**
 * Users on PostgreSQL (`DATABASE_URL`): the same contract as the bun:sqlite store
 * (src/store/users.ts; test/store/store-suite.ts runs on both), over a `Bun.sql` pool.
 *
 * - Emails are unique without regard to case: a unique index on `lower(email)` (emails are ASCII,
 *   so this folds exactly what SQLite's NOCASE folds). A duplicate is PostgreSQL's unique
 *   violation, SQLSTATE 23505, which becomes 409 `conflict`.
 * - Ids come from a `bigserial`: never reused, returned as JSON numbers.
 * - Keyset paging reads `LIMIT n + 1` in id order, like bun:sqlite (src/store/keyset.ts).
 *
 * @example
 * ```ts
 * const pg = await openPostgres(url, {}, [USERS_DDL])
 * const users = new PostgresUserStore(pg.sql)
 * await users.create({ name: 'Ada', email: 'ada@example.com' }) // { id: 1, … }
 * ```
 */
import type { SQL } from 'bun'
import { AppError } from '../../errors.ts'
import { keysetPage, pageLimit, type PageOptions } from '../keyset.ts'
import type { NewUser, User, UserPage, UserPatch, UserStore } from '../users.ts'
import { bounded, isUniqueViolation, postgresError, QUERY_TIMEOUT_MS, type Bounded } from './db.ts'

/** The users table and its case-insensitive email index (run at start by `openPostgres`). */
export const USERS_DDL = `
CREATE TABLE IF NOT EXISTS users (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL,
  email      text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower ON users (lower(email));
`

interface Row {
  id: bigint
  name: string
  email: string
  createdAt: Date
}

function toUser(r: Row): User {
  return { id: Number(r.id), name: r.name, email: r.email, createdAt: r.createdAt.toISOString() }
}

function conflict(): AppError {
  return new AppError('conflict', 'A user with this email already exists', { details: [{ path: '/email', message: 'already registered' }] })
}

/** The users table behind `/users` on PostgreSQL. */
export class PostgresUserStore implements UserStore {
  readonly #sql: SQL
  readonly #run: Bounded

  /**
   * Uses `sql`, a pool the caller owns and closes (the table exists: {@link USERS_DDL}); every
   * query goes through `run` (default: bounded by {@link QUERY_TIMEOUT_MS}).
   */
  constructor(sql: SQL, run: Bounded = bounded(QUERY_TIMEOUT_MS)) {
    this.#sql = sql
    this.#run = run
  }

  async create(input: NewUser): Promise<User> {
    try {
      const rows: Row[] = await this.#run(this.#sql`
        INSERT INTO users (name, email, created_at) VALUES (${input.name}, ${input.email}, ${new Date()})
        RETURNING id, name, email, created_at AS "createdAt"`)
      return toUser(rows[0]!)
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict()
      throw postgresError(err, 'store the user')
    }
  }

  async get(id: number): Promise<User | null> {
    try {
      const rows: Row[] = await this.#run(this.#sql`SELECT id, name, email, created_at AS "createdAt" FROM users WHERE id = ${id}`)
      return rows.length === 0 ? null : toUser(rows[0]!)
    } catch (err) {
      throw postgresError(err, 'read the user')
    }
  }

  async list(options: PageOptions): Promise<UserPage> {
    const limit = pageLimit(options)
    try {
      const rows: Row[] = options.after === undefined
        ? await this.#run(this.#sql`SELECT id, name, email, created_at AS "createdAt" FROM users ORDER BY id LIMIT ${limit + 1}`)
        : await this.#run(this.#sql`SELECT id, name, email, created_at AS "createdAt" FROM users WHERE id > ${options.after} ORDER BY id LIMIT ${limit + 1}`)
      const page = keysetPage(rows.map(toUser), limit)
      return { items: page.rows, nextCursor: page.nextCursor }
    } catch (err) {
      throw postgresError(err, 'list the users')
    }
  }

  async update(id: number, patch: UserPatch): Promise<User | null> {
    try {
      // An absent field is NULL and keeps the stored value; the user's own email in another
      // case is no conflict (the unique index compares it with the other rows only).
      const rows: Row[] = await this.#run(this.#sql`
        UPDATE users SET name = coalesce(${patch.name ?? null}::text, name), email = coalesce(${patch.email ?? null}::text, email)
        WHERE id = ${id} RETURNING id, name, email, created_at AS "createdAt"`)
      return rows.length === 0 ? null : toUser(rows[0]!)
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict()
      throw postgresError(err, 'update the user')
    }
  }

  async delete(id: number): Promise<boolean> {
    try {
      const rows: unknown[] = await this.#run(this.#sql`DELETE FROM users WHERE id = ${id} RETURNING id`)
      return rows.length > 0
    } catch (err) {
      throw postgresError(err, 'delete the user')
    }
  }

  async count(): Promise<number> {
    try {
      const rows: Array<{ n: bigint }> = await this.#run(this.#sql`SELECT count(*) AS n FROM users`)
      return Number(rows[0]!.n)
    } catch (err) {
      throw postgresError(err, 'count the users')
    }
  }

  /** Nothing: the pool is shared with the messages store and closed by its owner (src/deps.ts). */
  close(): void {}
}
