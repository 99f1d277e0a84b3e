/**
 * SQLite failures of the storage (full, busy, read-only) reach clients as their AppError, never as
 * a 500 (issue #11, item 6), and a store recovers once the cause is gone. Every error here is a
 * real one from SQLite: a full file through `max_page_count` (no root needed; test/store/
 * disk-full.test.ts fills a real filesystem), a lock held by a second connection, a read-only open.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { AppError } from '../../src/errors.ts'
import { SqliteMessageStore } from '../../src/store/messages.ts'
import { openDatabase, storageError } from '../../src/store/sqlite.ts'
import { SqliteUserStore } from '../../src/store/users.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-storage-errors-')
afterAll(() => tmp.remove())
let n = 0
const path = () => join(tmp.dir, `db-${++n}.sqlite`)

/** Runs `fn`, expecting it to throw (or reject with) an AppError; returns what the client would see of it. */
async function refusal(fn: () => unknown): Promise<{ code: string; status: number; retryAfter: number | undefined }> {
  try {
    await fn()
  } catch (err) {
    if (!(err instanceof AppError)) throw err
    return { code: err.code, status: err.status, retryAfter: err.retryAfter }
  }
  throw new Error('did not throw')
}

/** Caps the file at its current size plus `spare` pages: the next growth past it is SQLITE_FULL. */
function capPages(db: Database, spare: number): void {
  const { page_count } = db.query('PRAGMA page_count').get() as { page_count: number }
  db.run(`PRAGMA max_page_count = ${page_count + spare}`)
}

describe('storage failures are AppErrors with a clear code', () => {
  test('a full database: users and messages writes are 507 insufficient_storage (Retry-After 30); reads go on; writes work again once space returns', async () => {
    const udb = openDatabase(path())
    const users = new SqliteUserStore(udb)
    const mdb = openDatabase(path())
    const messages = new SqliteMessageStore(mdb)
    try {
      await users.create({ name: 'Ada', email: 'ada@example.com' })
      await messages.create({ input: 'hi', response: 'hello', model: 'm', usage: null })
      capPages(udb, 0)
      capPages(mdb, 0)
      const big = 'x'.repeat(20_000) // needs new pages
      expect(await refusal(() => users.create({ name: big, email: 'bob@example.com' }))).toEqual({ code: 'insufficient_storage', status: 507, retryAfter: 30 })
      expect(await refusal(() => messages.create({ input: big, response: big, model: 'm', usage: null }))).toEqual({ code: 'insufficient_storage', status: 507, retryAfter: 30 })
      expect(users.get(1)?.email).toBe('ada@example.com')
      expect(users.list({ limit: 10 }).items).toHaveLength(1)
      expect(messages.get(1)?.response).toBe('hello')
      expect(messages.list({ limit: 10 }).items).toHaveLength(1)
      udb.run('PRAGMA max_page_count = 1000000')
      mdb.run('PRAGMA max_page_count = 1000000')
      expect((await users.create({ name: big, email: 'bob@example.com' })).id).toBe(2)
      expect((await messages.create({ input: big, response: big, model: 'm', usage: null })).id).toBe(2)
    } finally {
      users.close()
      messages.close()
    }
  })

  test('a write lock held by another connection past the busy timeout: 503 storage_busy (Retry-After 1); reads go on; the write works once the lock is released', async () => {
    const file = path()
    const users = SqliteUserStore.open(file, { busyTimeoutMs: 20 })
    const other = new Database(file)
    try {
      await users.create({ name: 'Ada', email: 'ada@example.com' })
      other.run('BEGIN IMMEDIATE')
      expect(await refusal(() => users.create({ name: 'Bob', email: 'bob@example.com' }))).toEqual({ code: 'storage_busy', status: 503, retryAfter: 1 })
      expect(await refusal(() => users.delete(1))).toEqual({ code: 'storage_busy', status: 503, retryAfter: 1 })
      expect(users.get(1)?.name).toBe('Ada') // WAL: readers never wait for the writer
      other.run('COMMIT')
      expect((await users.create({ name: 'Bob', email: 'bob@example.com' })).id).toBe(2)
    } finally {
      other.close()
      users.close()
    }
  })

  test('a database the server can only read: 503 storage_read_only (Retry-After 30); reads go on', async () => {
    const file = path()
    SqliteUserStore.open(file).close()
    const seed = SqliteUserStore.open(file)
    await seed.create({ name: 'Ada', email: 'ada@example.com' })
    seed.close()
    const users = new SqliteUserStore(new Database(file, { readonly: true, strict: true }))
    try {
      expect(await refusal(() => users.create({ name: 'Bob', email: 'bob@example.com' }))).toEqual({ code: 'storage_read_only', status: 503, retryAfter: 30 })
      expect(users.get(1)?.name).toBe('Ada')
    } finally {
      users.close()
    }
  })

  test('anything else is left as it is: a constraint violation or a plain Error is not a storage failure', () => {
    const db = new Database(':memory:')
    db.run('CREATE TABLE t (v UNIQUE)')
    db.run("INSERT INTO t VALUES ('a')")
    let constraint: unknown
    try { db.run("INSERT INTO t VALUES ('a')") } catch (err) { constraint = err }
    expect(storageError(constraint, 'x')).toBe(constraint)
    const plain = new Error('boom')
    expect(storageError(plain, 'x')).toBe(plain)
    db.close()
  })
})
