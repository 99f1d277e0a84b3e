import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { SqliteUserStore } from '../../src/store/users.ts'
import { openDatabase } from '../../src/store/sqlite.ts'
import { AppError } from '../../src/errors.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-users-store-')
afterAll(() => tmp.remove())
let n = 0
const fresh = () => SqliteUserStore.open(join(tmp.dir, `users-${++n}.sqlite`))

describe('openDatabase', () => {
  test('creates the parent directory and turns on WAL, NORMAL sync, busy timeout and foreign keys', () => {
    const path = join(tmp.dir, 'nested', 'deeper', 'x.sqlite')
    const db = openDatabase(path, { busyTimeoutMs: 1234 })
    try {
      expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
      expect(db.query('PRAGMA synchronous').get()).toEqual({ synchronous: 1 })
      expect(db.query('PRAGMA busy_timeout').get()).toEqual({ timeout: 1234 })
      expect(db.query('PRAGMA foreign_keys').get()).toEqual({ foreign_keys: 1 })
      expect(db.query('PRAGMA locking_mode').get()).toEqual({ locking_mode: 'normal' })
    } finally {
      db.close()
    }
  })

  test('exclusive: the owner reads and writes, another connection is locked out until it closes', () => {
    const path = join(tmp.dir, 'owned.sqlite')
    const owner = SqliteUserStore.open(path, { exclusive: true })
    const ada = owner.create({ name: 'Ada', email: 'ada@example.com' })
    expect(owner.get(ada.id)).toEqual(ada)
    const other = new Database(path)
    try {
      other.run('PRAGMA busy_timeout = 0')
      expect(() => other.query('SELECT count(*) AS n FROM users').get()).toThrow(/locked/)
    } finally {
      other.close()
      owner.close()
    }
    const after = new Database(path, { readonly: true })
    try {
      expect(after.query('SELECT count(*) AS n FROM users').get()).toEqual({ n: 1 })
    } finally {
      after.close()
    }
  })
})

describe('SqliteUserStore', () => {
  test('creates, reads and deletes a user', () => {
    const users = fresh()
    try {
      const ada = users.create({ name: 'Ada', email: 'ada@example.com' })
      expect(ada).toMatchObject({ id: 1, name: 'Ada', email: 'ada@example.com' })
      expect(Date.parse(ada.createdAt)).toBeGreaterThan(0)
      expect(users.get(ada.id)).toEqual(ada)
      expect(users.get(999)).toBeNull()
      expect(users.delete(ada.id)).toBe(true)
      expect(users.delete(ada.id)).toBe(false)
      expect(users.get(ada.id)).toBeNull()
    } finally {
      users.close()
    }
  })

  test('a duplicate email, in any case, is a conflict and stores nothing', () => {
    const users = fresh()
    try {
      users.create({ name: 'Ada', email: 'ada@example.com' })
      let caught: unknown
      try {
        users.create({ name: 'Other', email: 'ADA@Example.COM' })
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(AppError)
      expect((caught as AppError).code).toBe('conflict')
      expect((caught as AppError).status).toBe(409)
      expect(users.count()).toBe(1)
    } finally {
      users.close()
    }
  })

  test('ids are never reused after a delete', () => {
    const users = fresh()
    try {
      const a = users.create({ name: 'a', email: 'a@x.io' })
      const b = users.create({ name: 'b', email: 'b@x.io' })
      users.delete(b.id)
      const c = users.create({ name: 'c', email: 'c@x.io' })
      expect(c.id).toBeGreaterThan(b.id)
      expect(a.id).toBeLessThan(b.id)
    } finally {
      users.close()
    }
  })

  test('keyset paging visits every user exactly once for random page sizes, with deletes in between', () => {
    const users = fresh()
    try {
      for (let i = 0; i < 137; i++) users.create({ name: `u${i}`, email: `u${i}@x.io` })
      for (let round = 0; round < 20; round++) {
        const limit = 1 + Math.floor(Math.random() * 30)
        const seen: number[] = []
        let page = users.list({ limit })
        for (;;) {
          expect(page.items.length).toBeLessThanOrEqual(limit)
          seen.push(...page.items.map((u) => u.id))
          if (page.nextCursor === null) break
          expect(page.items.length).toBe(limit)
          page = users.list({ limit, after: Number(page.nextCursor) })
        }
        expect(seen.length).toBe(users.count())
        expect(new Set(seen).size).toBe(seen.length)
        expect([...seen].sort((x, y) => x - y)).toEqual(seen)
        // Delete a random user: the next round must still see everyone else once.
        users.delete(seen[Math.floor(Math.random() * seen.length)]!)
      }
      expect(users.count()).toBe(117)
    } finally {
      users.close()
    }
  })

  test('the last page has no cursor, even when it is exactly full', () => {
    const users = fresh()
    try {
      for (let i = 0; i < 4; i++) users.create({ name: `u${i}`, email: `u${i}@x.io` })
      const first = users.list({ limit: 2 })
      expect(first.nextCursor).toBe(String(first.items[1]!.id))
      const second = users.list({ limit: 2, after: Number(first.nextCursor) })
      expect(second.items.length).toBe(2)
      expect(second.nextCursor).toBeNull()
      expect(users.list({ limit: 5, after: 1_000_000 })).toEqual({ items: [], nextCursor: null })
    } finally {
      users.close()
    }
  })

  test('users survive closing and reopening the file', () => {
    const path = join(tmp.dir, 'reopen.sqlite')
    const first = SqliteUserStore.open(path)
    const ada = first.create({ name: 'Ada', email: 'ada@example.com' })
    first.close()
    const second = SqliteUserStore.open(path)
    try {
      expect(second.get(ada.id)).toEqual(ada)
    } finally {
      second.close()
    }
  })

  test('two processes inserting into one file at once lose no writes (WAL + busy timeout)', async () => {
    const path = join(tmp.dir, 'shared.sqlite')
    SqliteUserStore.open(path).close()
    const perProcess = 2000
    const script = (tag: string) => `
      import { SqliteUserStore } from ${JSON.stringify(join(import.meta.dir, '../../src/store/users.ts'))}
      const users = SqliteUserStore.open(${JSON.stringify(path)})
      for (let i = 0; i < ${perProcess}; i++) users.create({ name: '${tag}' + i, email: '${tag}' + i + '@x.io' })
      users.close()
    `
    const procs = ['p', 'q', 'r'].map((tag) => Bun.spawn([process.execPath, '-e', script(tag)], { stdout: 'pipe', stderr: 'pipe' }))
    const codes = await Promise.all(procs.map((p) => p.exited))
    const errors = await Promise.all(procs.map((p) => new Response(p.stderr).text()))
    expect(errors.join('')).toBe('')
    expect(codes).toEqual([0, 0, 0])
    const db = new Database(path, { readonly: true })
    try {
      const row = db.query('SELECT count(*) AS n, count(DISTINCT id) AS ids FROM users').get() as { n: number; ids: number }
      expect(row).toEqual({ n: 3 * perProcess, ids: 3 * perProcess })
    } finally {
      db.close()
    }
  }, 30_000)
})
