/**
 * Messages (the LLM chat history) on PostgreSQL (`DATABASE_URL`): the same contract as the
 * bun:sqlite store (src/store/messages.ts; test/store/store-suite.ts runs on both). Ids from a
 * `bigserial` (never reused, JSON numbers), keyset paging as on bun:sqlite.
 *
 * @example
 * ```ts
 * const pg = await openPostgres(url, {}, [MESSAGES_DDL])
 * const messages = new PostgresMessageStore(pg.sql)
 * await messages.create({ input: 'Hola', response: '¡Hola!', model: 'm', usage: null })
 * ```
 */
import type { SQL } from 'bun'
import { keysetPage, pageLimit, type PageOptions } from '../keyset.ts'
import type { Message, MessagePage, MessageStore, NewMessage } from '../messages.ts'
import { bounded, postgresError, QUERY_TIMEOUT_MS, type Bounded } from './db.ts'

/** The messages table (run at start by `openPostgres`). */
export const MESSAGES_DDL = `
CREATE TABLE IF NOT EXISTS messages (
  id                bigserial PRIMARY KEY,
  input             text NOT NULL,
  system            text,
  response          text NOT NULL,
  model             text NOT NULL,
  prompt_tokens     integer,
  completion_tokens integer,
  total_tokens      integer,
  created_at        timestamptz NOT NULL
);
`

interface Row {
  id: bigint
  input: string
  system: string | null
  response: string
  model: string
  promptTokens: number | null
  completionTokens: number | null
  totalTokens: number | null
  createdAt: Date
}

function toMessage(r: Row): Message {
  const usage = r.totalTokens === null ? null : { promptTokens: r.promptTokens ?? 0, completionTokens: r.completionTokens ?? 0, totalTokens: r.totalTokens }
  return { id: Number(r.id), input: r.input, system: r.system, response: r.response, model: r.model, usage, createdAt: r.createdAt.toISOString() }
}

/** `text` as PostgreSQL can store it: every U+0000 replaced by U+FFFD. */
const storable = (text: string): string => (text.includes('\u0000') ? text.replaceAll('\u0000', '\ufffd') : text)

/** The messages table behind `/messages` on PostgreSQL. */
export class PostgresMessageStore implements MessageStore {
  readonly #sql: SQL
  readonly #run: Bounded

  /**
   * Uses `sql`, a pool the caller owns and closes (the table exists: {@link MESSAGES_DDL}); every
   * query goes through `run` (default: bounded by {@link QUERY_TIMEOUT_MS}).
   */
  constructor(sql: SQL, run: Bounded = bounded(QUERY_TIMEOUT_MS)) {
    this.#sql = sql
    this.#run = run
  }

  async create(m: NewMessage): Promise<Message> {
    const u = m.usage
    try {
      // The answer and the model name are the upstream's: PostgreSQL's text refuses U+0000, and
      // losing the exchange (a 500 after the tokens were spent) is worse than U+FFFD in its place.
      const rows: Row[] = await this.#run(this.#sql`
        INSERT INTO messages (input, system, response, model, prompt_tokens, completion_tokens, total_tokens, created_at)
        VALUES (${m.input}, ${m.system ?? null}, ${storable(m.response)}, ${storable(m.model)}, ${u?.promptTokens ?? null}, ${u?.completionTokens ?? null}, ${u?.totalTokens ?? null}, ${new Date()})
        RETURNING ${this.#sql.unsafe(COLUMNS)}`)
      return toMessage(rows[0]!)
    } catch (err) {
      throw postgresError(err, 'store the message')
    }
  }

  async get(id: number): Promise<Message | null> {
    try {
      const rows: Row[] = await this.#run(this.#sql`SELECT ${this.#sql.unsafe(COLUMNS)} FROM messages WHERE id = ${id}`)
      return rows.length === 0 ? null : toMessage(rows[0]!)
    } catch (err) {
      throw postgresError(err, 'read the message')
    }
  }

  async list(options: PageOptions): Promise<MessagePage> {
    const limit = pageLimit(options)
    try {
      const rows: Row[] = options.after === undefined
        ? await this.#run(this.#sql`SELECT ${this.#sql.unsafe(COLUMNS)} FROM messages ORDER BY id LIMIT ${limit + 1}`)
        : await this.#run(this.#sql`SELECT ${this.#sql.unsafe(COLUMNS)} FROM messages WHERE id > ${options.after} ORDER BY id LIMIT ${limit + 1}`)
      const page = keysetPage(rows.map(toMessage), limit)
      return { items: page.rows, nextCursor: page.nextCursor }
    } catch (err) {
      throw postgresError(err, 'list the messages')
    }
  }

  async count(): Promise<number> {
    try {
      const rows: Array<{ n: bigint }> = await this.#run(this.#sql`SELECT count(*) AS n FROM messages`)
      return Number(rows[0]!.n)
    } catch (err) {
      throw postgresError(err, 'count the messages')
    }
  }

  /** Nothing: the pool is shared with the users store and closed by its owner (src/deps.ts). */
  close(): void {}
}

const COLUMNS = 'id, input, system, response, model, prompt_tokens AS "promptTokens", completion_tokens AS "completionTokens", total_tokens AS "totalTokens", created_at AS "createdAt"'
