/**
 * Users: the {@link UserStore} interface every backend implements (bun:sqlite here, PostgreSQL in
 * ./postgres/users.ts with `DATABASE_URL`), and the bun:sqlite store: one table, prepared
 * statements, keyset paging on the id.
 *
 * Emails are unique without regard to case (a `COLLATE NOCASE` unique index; the accepted email
 * syntax is ASCII, which is exactly what NOCASE folds). Ids come from `AUTOINCREMENT`, so an id is
 * never reused after a delete: a cursor or a cached `/users/42` never silently points at someone else.
 *
 * Reads are synchronous (bun:sqlite is): on the main thread each one is a single indexed
 * statement measured in microseconds, cheaper than a hop to a worker would be. Writes (create,
 * update, delete) go through a group commit (./group-commit.ts): every write of one event-loop
 * turn in one transaction, each promise resolved once that COMMIT returned, so a `201` still
 * means committed. What it buys is in {@link SqliteUserStore}'s constructor comment.
 *
 * A failing disk is the server's problem, not the client's: every call turns a SQLite storage
 * failure into its AppError (a full disk → 507 `insufficient_storage`, see `storageError`), and
 * reads keep working while writes are refused.
 *
 * @example
 * ```ts
 * const users = SqliteUserStore.open(join(config.dataDir, 'users.sqlite'))
 * const ada = await users.create({ name: 'Ada', email: 'ada@example.com' })
 * users.get(ada.id)                 // { id: 1, name: 'Ada', email: 'ada@example.com', createdAt: '…' }
 * users.list({ limit: 20 })         // { items: [ada], nextCursor: null }
 * users.close()
 * ```
 */
import type { Database, Statement } from 'bun:sqlite'
import { AppError } from '../errors.ts'
import { GroupCommit } from './group-commit.ts'
import { closeDatabase, openStore, runReturning, storageError, type StoreOpenOptions } from './sqlite.ts'
import { KeysetPager, type KeysetPage, type PageOptions } from './keyset.ts'
import type { MaybeAsync } from './maybe.ts'
import { WalFlusher } from './wal-flush.ts'

/** A stored user, as the API returns it. */
export interface User {
  id: number
  name: string
  email: string
  /** ISO 8601 UTC timestamp of creation. */
  createdAt: string
}

/** What a client supplies to create a user (already validated and trimmed by the route). */
export interface NewUser {
  name: string
  email: string
}

/**
 * What a client may change with `PATCH /users/:id`: any of the fields, at least one (the route checks).
 *
 * @example users.update(1, { name: 'Ada' } satisfies UserPatch)
 */
export type UserPatch = Partial<NewUser>

/** One page of {@link UserStore.list}: `nextCursor` is null on the last page. */
export interface UserPage {
  items: User[]
  nextCursor: string | null
}

/**
 * What `/users` needs of a users backend. bun:sqlite answers reads synchronously and writes with
 * a promise (its group commit), PostgreSQL everything with promises ({@link MaybeAsync}; routes
 * continue with `andThen`). Every backend: emails unique
 * without regard to case (`conflict`, 409), ids never reused, keyset paging in id order, storage
 * failures as their AppError (503/507, never a 500). test/store/store-suite.ts is the contract.
 *
 * @example
 * ```ts
 * const users: UserStore = SqliteUserStore.open('./data/users.sqlite')
 * await users.create({ name: 'Ada', email: 'ada@example.com' })
 * ```
 */
export interface UserStore {
  /** Stores a new user; throws `AppError('conflict')` when the email (ignoring case) is taken. */
  create(input: NewUser): MaybeAsync<User>
  /** The user with this id, or null. */
  get(id: number): MaybeAsync<User | null>
  /** A page of users in id order after `after`. */
  list(options: PageOptions): MaybeAsync<UserPage>
  /** Changes the given fields; null when no such user; `conflict` when the email is another's. */
  update(id: number, patch: UserPatch): MaybeAsync<User | null>
  /** Deletes a user; true when it existed. */
  delete(id: number): MaybeAsync<boolean>
  /** How many users are stored. */
  count(): MaybeAsync<number>
  /** Releases what the store holds. */
  close(): void | Promise<void>
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT NOT NULL,
  email      TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_nocase ON users (email COLLATE NOCASE);
`

const COLUMNS = 'id, name, email, created_at AS createdAt'

function conflict(): AppError {
  return new AppError('conflict', 'A user with this email already exists', { details: [{ path: '/email', message: 'already registered' }] })
}

/** The users table behind `/users` on bun:sqlite (the default backend). */
export class SqliteUserStore implements UserStore {
  readonly #db: Database
  readonly #insert: Statement<User, [string, string, string]>
  readonly #get: Statement<User, [number]>
  readonly #pages: KeysetPager<User>
  readonly #delete: Statement<{ id: number }, [number]>
  readonly #update: Statement<User, [number, string | null, string | null]>
  readonly #exists: Statement<{ id: number }, [number]>
  readonly #count: Statement<{ n: number }, []>
  readonly #flusher: WalFlusher | null
  readonly #commits: GroupCommit
  #closed = false

  /**
   * Wraps an open database (see {@link SqliteUserStore.open}); creates the table if missing.
   * `busyRetryMs`: how long a write waits off the event loop for another process's lock
   * (`SHARED_WRITE_WAIT_MS` when shared, ./sqlite.ts).
   */
  constructor(db: Database, options: Pick<StoreOpenOptions, 'busyRetryMs'> = {}) {
    this.#db = db
    db.run(SCHEMA)
    // ON CONFLICT DO NOTHING + RETURNING: a duplicate email yields no row instead of throwing,
    // so the common conflict path costs no exception and no second query.
    this.#insert = db.prepare(`INSERT INTO users (name, email, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`)
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM users WHERE id = ?1`)
    this.#pages = new KeysetPager(db, `SELECT ${COLUMNS} FROM users`)
    this.#delete = db.prepare('DELETE FROM users WHERE id = ?1 RETURNING id')
    // OR IGNORE + RETURNING, like the insert: an email taken by another user skips the row
    // instead of throwing, and `update` tells a conflict from a missing id with one more lookup
    // only on that path. An absent field is NULL and keeps the stored value.
    this.#update = db.prepare(`UPDATE OR IGNORE users SET name = coalesce(?2, name), email = coalesce(?3, email) WHERE id = ?1 RETURNING ${COLUMNS}`)
    this.#exists = db.prepare('SELECT id FROM users WHERE id = ?1')
    this.#count = db.prepare('SELECT count(*) AS n FROM users')
    // Every commit (one per group-commit batch) counts towards a background flush of the WAL
    // (./wal-flush.ts: what it buys, with the figures); an in-memory database has no WAL.
    const flusher = db.filename === ':memory:' || db.filename === '' ? null : new WalFlusher(`${db.filename}-wal`)
    this.#flusher = flusher
    // Group commit: every write of one event-loop turn in one transaction (./group-commit.ts).
    // What it buys, POST /users with 64 connections, base = one autocommit insert per request
    // (2026-12-03 21:00-21:14Z, load 2-5, interleaved rounds, three runs / two runs):
    // - one process, exclusive (`BASE=… ENDPOINTS=post STACKS=full bun bench/http/ab.ts`):
    //   req/s x1.21-2.0, CPU per request x0.55-0.67 (e.g. 82 -> 58 µs). With one connection
    //   (nothing to group) it costs one event-loop turn and a BEGIN: req/s x0.97, CPU x1.08;
    // - PROCESSES=2 (bench/peers all cores, `HIGHPERF_BASE`): 6 110-6 376 -> 12 382-15 573 req/s,
    //   p99 101-111 -> 19-66 ms, CPU 150-180 -> 78-115 µs per request: a write no longer waits
    //   for the other process's lock on the event loop (SHARED_WRITE_WAIT_MS, ./sqlite.ts), and
    //   one turn of the lock carries a batch.
    this.#commits = new GroupCommit(db, {
      busyRetryMs: options.busyRetryMs ?? 0,
      ...(flusher ? { observe: () => flusher.committed() } : {}),
    })
  }

  /**
   * Opens (or creates) the users database at `path` with WAL.
   *
   * @example
   * ```ts
   * const users = SqliteUserStore.open('./data/users.sqlite')
   * ```
   */
  static open(path: string, options: StoreOpenOptions = {}): SqliteUserStore {
    return openStore(path, options, (db) => new SqliteUserStore(db, options))
  }

  #write<T>(run: () => T, what: string): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the users store is closed'))
    return this.#commits.write(run, what)
  }

  /**
   * Stores a new user, resolving once committed. Rejects with `AppError('conflict')` when the
   * email (ignoring case) is taken, also by a write committed just before it in the same batch.
   *
   * @example
   * ```ts
   * (await users.create({ name: 'Ada', email: 'ada@example.com' })).id // 1
   * ```
   */
  create(input: NewUser): Promise<User> {
    const now = new Date().toISOString()
    return this.#write(() => {
      // ON CONFLICT DO NOTHING: a taken email yields no row and rejects this write alone; the
      // rest of the batch commits.
      const row = runReturning(this.#insert, input.name, input.email, now)
      if (row === null) throw conflict()
      return row
    }, 'store the user')
  }

  /**
   * The user with this id, or null.
   *
   * @example
   * ```ts
   * users.get(1)?.email
   * ```
   */
  get(id: number): User | null {
    try {
      return this.#get.get(id)
    } catch (err) {
      throw storageError(err, 'read the user')
    }
  }

  /**
   * A page of users in id order, starting after `after` (keyset paging: ./keyset.ts).
   *
   * @example
   * ```ts
   * const first = users.list({ limit: 2 })
   * const second = users.list({ limit: 2, after: Number(first.nextCursor) })
   * ```
   */
  list(options: PageOptions): UserPage {
    let page: KeysetPage<User>
    try {
      page = this.#pages.page(options)
    } catch (err) {
      throw storageError(err, 'list the users')
    }
    return { items: page.rows, nextCursor: page.nextCursor }
  }

  /**
   * Changes the given fields of user `id` and returns it as stored now, or null when no such user
   * exists. Rejects with `AppError('conflict')` when the new email (ignoring case) belongs to another
   * user; the user's own email in another case is not a conflict.
   *
   * @example
   * ```ts
   * (await users.update(1, { email: 'ada@lovelace.example' }))?.email // 'ada@lovelace.example'
   * ```
   */
  update(id: number, patch: UserPatch): Promise<User | null> {
    return this.#write(() => {
      const row = runReturning(this.#update, id, patch.name ?? null, patch.email ?? null)
      if (row !== null) return row
      if (this.#exists.get(id) === null) return null
      throw conflict()
    }, 'update the user')
  }

  /**
   * Deletes a user; resolves true when it existed.
   *
   * @example
   * ```ts
   * await users.delete(1) // true, then false
   * ```
   */
  delete(id: number): Promise<boolean> {
    return this.#write(() => runReturning(this.#delete, id) !== null, 'delete the user')
  }

  /** How many users are stored (for tests and diagnostics). */
  count(): number {
    return this.#count.get()?.n ?? 0
  }

  /**
   * Writes a consistent copy of the database to `path`, a file that must not exist yet (`VACUUM
   * INTO`: one read transaction on this connection, so it works while this connection holds the
   * file in exclusive locking mode, and writes wait only for the copy). src/ops/backup.ts uses it.
   *
   * @example store.copyTo('/backups/2026-01-01T00-00-00Z/users.sqlite')
   */
  copyTo(path: string): void {
    this.#db.run('VACUUM INTO ?1', [path])
  }

  /** Commits the writes still queued, then closes the database; further calls throw (writes reject). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    // The last batch may block: waiting for another process's lock is fine at shutdown.
    this.#db.run('PRAGMA busy_timeout = 5000')
    this.#commits.flush()
    this.#flusher?.close()
    closeDatabase(this.#db, [this.#insert, this.#get, ...this.#pages.statements, this.#delete, this.#update, this.#exists, this.#count])
  }
}
