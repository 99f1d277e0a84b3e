/**
 * Keyset paging on an integer `id` for bun:sqlite tables: pages in id order, each starting after
 * the id the previous one ended with. Users and messages page this way.
 *
 * Why keyset rather than OFFSET: a page costs one index seek whatever its position, and rows
 * added or deleted meanwhile never make a client skip or repeat a row. One row more than asked
 * is read to know whether another page exists, so the last page never ends with an empty
 * follow-up. The cursor is the last id as a string, opaque to clients.
 *
 * @example
 * ```ts
 * const pager = new KeysetPager<Row>(db, 'SELECT id, name FROM users')
 * pager.page({ limit: 2 })           // { rows: [{ id: 1, … }, { id: 2, … }], nextCursor: '2' }
 * pager.page({ limit: 2, after: 2 }) // { rows: [{ id: 3, … }], nextCursor: null }
 * ```
 */
import type { Database, Statement } from 'bun:sqlite'

/** Paging arguments: `after` is the id the previous page ended with (exclusive). */
export interface PageOptions {
  limit: number
  after?: number
}

/** One page of rows and the cursor of the next page (null on the last). */
export interface KeysetPage<R> {
  rows: R[]
  nextCursor: string | null
}

/**
 * The page size asked for, at least 1; a backend reads one row more (see the module comment).
 *
 * @example pageLimit({ limit: 0 }) // 1
 */
export function pageLimit(options: PageOptions): number {
  return Math.max(1, Math.floor(options.limit))
}

/**
 * A page out of `rows`, read in id order with `LIMIT limit + 1`: the extra row only says another
 * page exists. Shared by every backend, so paging is the same on each.
 *
 * @example keysetPage([{ id: 1 }, { id: 2 }, { id: 3 }], 2) // { rows: [{ id: 1 }, { id: 2 }], nextCursor: '2' }
 */
export function keysetPage<R extends { id: number }>(rows: R[], limit: number): KeysetPage<R> {
  if (rows.length <= limit) return { rows, nextCursor: null }
  rows.length = limit
  return { rows, nextCursor: String(rows[limit - 1]!.id) }
}

/** The two prepared statements of a keyset-paged list (first page, page after an id). */
export class KeysetPager<R extends { id: number }> {
  readonly #first: Statement<R, [number]>
  readonly #after: Statement<R, [number, number]>

  /**
   * Prepares the list over `select`, a `SELECT … FROM <table>` written by the store (never built
   * from input), whose rows carry the integer key as `id`.
   *
   * @example new KeysetPager<User>(db, `SELECT ${COLUMNS} FROM users`)
   */
  constructor(db: Database, select: string) {
    this.#first = db.prepare(`${select} ORDER BY id LIMIT ?1`)
    this.#after = db.prepare(`${select} WHERE id > ?1 ORDER BY id LIMIT ?2`)
  }

  /**
   * A page of at most `limit` rows (at least 1) in id order, after `after` when given. Throws
   * SQLite's own error: the store maps it to its AppError.
   *
   * @example pager.page({ limit: 20, after: Number(cursor) })
   */
  page(options: PageOptions): KeysetPage<R> {
    const limit = pageLimit(options)
    const rows = options.after === undefined ? this.#first.all(limit + 1) : this.#after.all(options.after, limit + 1)
    return keysetPage(rows, limit)
  }

  /** The prepared statements, for the store's `closeDatabase`. */
  get statements(): Array<{ finalize(): void }> {
    return [this.#first, this.#after]
  }
}
