/**
 * Messages: the {@link MessageStore} interface every backend implements (bun:sqlite here,
 * PostgreSQL in ./postgres/messages.ts with `DATABASE_URL`), and the bun:sqlite store. Each exchange with the LLM (input, optional system prompt, the answer,
 * the model that gave it, token usage), with keyset paging on the id.
 *
 * Ids come from `AUTOINCREMENT`, so an id is never reused and a cursor never skips or repeats a row.
 * Usage is three nullable columns rather than a JSON blob: they can be summed in SQL.
 *
 * A SQLite storage failure becomes its AppError (a full disk → 507 `insufficient_storage`, see
 * `storageError`); reads keep working while writes are refused.
 *
 * Reads are synchronous; `create` goes through a group commit (./group-commit.ts), like the users
 * store: with several processes on one file a write waits for another's lock off the event loop.
 *
 * @example
 * ```ts
 * const messages = SqliteMessageStore.open(join(config.dataDir, 'messages.sqlite'))
 * const m = await messages.create({ input: 'Hola', response: '¡Hola!', model: 'gpt-4o-mini', usage: null })
 * messages.get(m.id)               // { id: 1, input: 'Hola', response: '¡Hola!', …, createdAt: '…' }
 * messages.list({ limit: 20 })     // { items: [m], nextCursor: null }
 * messages.close()
 * ```
 */
import type { Database, Statement } from 'bun:sqlite'
import { GroupCommit } from './group-commit.ts'
import { closeDatabase, openStore, runReturning, storageError, type StoreOpenOptions } from './sqlite.ts'
import { KeysetPager, type KeysetPage, type PageOptions } from './keyset.ts'
import type { MaybeAsync } from './maybe.ts'

/** Token counts of one exchange. */
export interface MessageUsage {
  promptTokens: number
  completionTokens: number
  totalTokens: number
}

/** A stored message, as the API returns it. */
export interface Message {
  id: number
  input: string
  /** The system prompt sent with it, or null. */
  system: string | null
  response: string
  model: string
  usage: MessageUsage | null
  /** ISO 8601 UTC timestamp of creation. */
  createdAt: string
}

/** What the route stores once the upstream answered. */
export interface NewMessage {
  input: string
  system?: string | undefined
  response: string
  model: string
  usage: MessageUsage | null
}

/** One page of {@link MessageStore.list}: `nextCursor` is null on the last page. */
export interface MessagePage {
  items: Message[]
  nextCursor: string | null
}

/**
 * What `/messages` needs of a messages backend: bun:sqlite answers reads synchronously and writes
 * with a promise (its group commit), PostgreSQL everything with promises ({@link MaybeAsync}). Ids never reused, keyset paging in id order, storage failures as
 * their AppError. test/store/store-suite.ts is the contract.
 *
 * @example
 * ```ts
 * const messages: MessageStore = SqliteMessageStore.open('./data/messages.sqlite')
 * const m = await messages.create({ input: 'Hola', response: '¡Hola!', model: 'm', usage: null })
 * ```
 */
export interface MessageStore {
  /** Stores a message and returns it with its id and timestamp. */
  create(m: NewMessage): MaybeAsync<Message>
  /** The message with this id, or null. */
  get(id: number): MaybeAsync<Message | null>
  /** A page of messages in id order after `after`. */
  list(options: PageOptions): MaybeAsync<MessagePage>
  /** How many messages are stored. */
  count(): MaybeAsync<number>
  /** Releases what the store holds. */
  close(): void | Promise<void>
}

interface Row {
  id: number
  input: string
  system: string | null
  response: string
  model: string
  promptTokens: number | null
  completionTokens: number | null
  totalTokens: number | null
  createdAt: string
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  input             TEXT NOT NULL,
  system            TEXT,
  response          TEXT NOT NULL,
  model             TEXT NOT NULL,
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  total_tokens      INTEGER,
  created_at        TEXT NOT NULL
);
`

const COLUMNS = 'id, input, system, response, model, prompt_tokens AS promptTokens, completion_tokens AS completionTokens, total_tokens AS totalTokens, created_at AS createdAt'

function toMessage(r: Row): Message {
  const usage = r.totalTokens === null ? null : { promptTokens: r.promptTokens ?? 0, completionTokens: r.completionTokens ?? 0, totalTokens: r.totalTokens }
  return { id: r.id, input: r.input, system: r.system, response: r.response, model: r.model, usage, createdAt: r.createdAt }
}

/** The messages table behind `/messages` on bun:sqlite (the default backend). */
export class SqliteMessageStore implements MessageStore {
  readonly #db: Database
  readonly #insert: Statement<Row, [string, string | null, string, string, number | null, number | null, number | null, string]>
  readonly #get: Statement<Row, [number]>
  readonly #pages: KeysetPager<Row>
  readonly #count: Statement<{ n: number }, []>
  readonly #commits: GroupCommit
  #closed = false

  /**
   * Wraps an open database (see {@link SqliteMessageStore.open}); creates the table if missing.
   * `busyRetryMs` as for the users store (./users.ts).
   */
  constructor(db: Database, options: Pick<StoreOpenOptions, 'busyRetryMs'> = {}) {
    this.#db = db
    db.run(SCHEMA)
    this.#insert = db.prepare(`INSERT INTO messages (input, system, response, model, prompt_tokens, completion_tokens, total_tokens, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING ${COLUMNS}`)
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE id = ?1`)
    this.#pages = new KeysetPager(db, `SELECT ${COLUMNS} FROM messages`)
    this.#count = db.prepare('SELECT count(*) AS n FROM messages')
    this.#commits = new GroupCommit(db, { busyRetryMs: options.busyRetryMs ?? 0 })
  }

  /**
   * Opens (or creates) the messages database at `path` with WAL.
   *
   * @example
   * ```ts
   * const messages = SqliteMessageStore.open('./data/messages.sqlite')
   * ```
   */
  static open(path: string, options: StoreOpenOptions = {}): SqliteMessageStore {
    return openStore(path, options, (db) => new SqliteMessageStore(db, options))
  }

  /**
   * Stores a message and resolves with it (its id and timestamp) once committed.
   *
   * @example
   * ```ts
   * (await messages.create({ input: 'Hola', response: '¡Hola!', model: 'm', usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } })).id
   * ```
   */
  create(m: NewMessage): Promise<Message> {
    if (this.#closed) return Promise.reject(new Error('the messages store is closed'))
    const u = m.usage
    const now = new Date().toISOString()
    return this.#commits.write(() => {
      const row = runReturning(this.#insert, m.input, m.system ?? null, m.response, m.model, u?.promptTokens ?? null, u?.completionTokens ?? null, u?.totalTokens ?? null, now)
      if (row === null) throw new Error('INSERT … RETURNING returned no row')
      return toMessage(row)
    }, 'store the message')
  }

  /**
   * The message with this id, or null.
   *
   * @example
   * ```ts
   * messages.get(1)?.response
   * ```
   */
  get(id: number): Message | null {
    let row: Row | null
    try {
      row = this.#get.get(id)
    } catch (err) {
      throw storageError(err, 'read the message')
    }
    return row === null ? null : toMessage(row)
  }

  /**
   * A page of messages in id order, starting after `after` (keyset paging: ./keyset.ts).
   *
   * @example
   * ```ts
   * const first = messages.list({ limit: 2 })
   * const second = messages.list({ limit: 2, after: Number(first.nextCursor) })
   * ```
   */
  list(options: PageOptions): MessagePage {
    let page: KeysetPage<Row>
    try {
      page = this.#pages.page(options)
    } catch (err) {
      throw storageError(err, 'list the messages')
    }
    return { items: page.rows.map(toMessage), nextCursor: page.nextCursor }
  }

  /** How many messages are stored. */
  count(): number {
    return this.#count.get()?.n ?? 0
  }

  /**
   * Writes a consistent copy of the database to `path`, a file that must not exist yet (`VACUUM
   * INTO`: one read transaction on this connection, so it works while this connection holds the
   * file in exclusive locking mode, and writes wait only for the copy). src/ops/backup.ts uses it.
   *
   * @example store.copyTo('/backups/2026-01-01T00-00-00Z/messages.sqlite')
   */
  copyTo(path: string): void {
    this.#db.run('VACUUM INTO ?1', [path])
  }

  /** Commits the writes still queued, then closes the database; further calls throw (writes reject). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#db.run('PRAGMA busy_timeout = 5000') // the last batch may wait for another process at shutdown
    this.#commits.flush()
    closeDatabase(this.#db, [this.#insert, this.#get, ...this.#pages.statements, this.#count])
  }
}
