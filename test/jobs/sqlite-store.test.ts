import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { openSqliteJobStore, SqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { openDatabase } from '../../src/store/sqlite.ts'
import { AppError } from '../../src/errors.ts'
import { newJob } from '../../src/jobs/model.ts'
import { tempDir } from '../support/deps.ts'
import { runJobStoreSuite } from './store-suite.ts'

runJobStoreSuite('sqlite', async () => {
  const tmp = tempDir('highperf-jobs-')
  return { store: openSqliteJobStore(join(tmp.dir, 'jobs.sqlite')), cleanup: tmp.remove }
})

describe('SqliteJobStore specifics', () => {
  test('a job survives closing and reopening the file', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const path = join(tmp.dir, 'jobs.sqlite')
      const a = openSqliteJobStore(path)
      const j = newJob({ task: 'echo', input: '{"v":1}' }, Date.now())
      await a.insert(j)
      await a.close()
      const b = openSqliteJobStore(path)
      expect(await b.get(j.id)).toEqual(j)
      await b.close()
    } finally {
      tmp.remove()
    }
  })

  test('the database is in WAL mode', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const path = join(tmp.dir, 'jobs.sqlite')
      const s = openSqliteJobStore(path)
      await s.insert(newJob({ task: 'echo', input: '{}' }, Date.now()))
      await s.close()
      const { Database } = await import('bun:sqlite')
      const db = new Database(path)
      expect(db.query<{ journal_mode: string }, []>('PRAGMA journal_mode').get()?.journal_mode).toBe('wal')
      db.close()
    } finally {
      tmp.remove()
    }
  })
  test('group commit: a failing write rejects alone; the writes around it commit', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const path = join(tmp.dir, 'jobs.sqlite')
      const s = openSqliteJobStore(path)
      const a = newJob({ task: 'echo', input: '1' }, Date.now())
      const b = newJob({ task: 'echo', input: '2' }, Date.now())
      // Same turn of the event loop: one transaction. The duplicate id violates the primary key.
      const results = await Promise.allSettled([s.insert(a), s.insert({ ...a }), s.insert(b)])
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      await s.close()
      const again = openSqliteJobStore(path)
      expect((await again.get(a.id))?.input).toBe('1')
      expect((await again.get(b.id))?.input).toBe('2')
      await again.close()
    } finally {
      tmp.remove()
    }
  })

  test('group commit on a full disk: when SQLite rolls the whole batch back, every write of it is rejected as insufficient_storage and none commits on its own', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const path = join(tmp.dir, 'jobs.sqlite')
      const db = openDatabase(path)
      const s = new SqliteJobStore(db)
      // A real SQLITE_FULL without a full filesystem: the file may not grow past a few pages.
      const pages = (db.query('PRAGMA page_count').get() as { page_count: number }).page_count
      db.run(`PRAGMA max_page_count = ${pages + 4}`)
      const a = newJob({ task: 'echo', input: '"a"' }, Date.now())
      const big = newJob({ task: 'echo', input: JSON.stringify('x'.repeat(200_000)) }, Date.now())
      const c = newJob({ task: 'echo', input: '"c"' }, Date.now())
      // One turn: one transaction. The big insert fails with SQLITE_FULL and SQLite rolls the
      // transaction back; the insert of c must not then run (and commit) in autocommit mode.
      const results = await Promise.allSettled([s.insert(a), s.insert(big), s.insert(c)])
      for (const r of results) {
        expect(r.status).toBe('rejected')
        const err = (r as PromiseRejectedResult).reason as AppError
        expect(err).toBeInstanceOf(AppError)
        expect([err.code, err.status, err.retryAfter]).toEqual(['insufficient_storage', 507, 30])
      }
      expect(await s.get(a.id)).toBeUndefined()
      expect(await s.get(c.id)).toBeUndefined()
      // Space returns: the same store writes again.
      db.run('PRAGMA max_page_count = 1000000')
      expect((await s.insert(c)).created).toBe(true)
      expect((await s.get(c.id))?.input).toBe('"c"')
      await s.close()
    } finally {
      tmp.remove()
    }
  })

  test('stress: thousands of concurrent writes of random kinds all commit', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const s = openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
      const n = 2000 + Math.floor(Math.random() * 2000)
      const jobs = Array.from({ length: n }, (_, i) => newJob({ task: i % 2 ? 'echo' : 'hash', input: String(i) }, Date.now()))
      await Promise.all(jobs.map((j) => s.insert(j)))
      const claimed = (await Promise.all(Array.from({ length: 50 }, () => s.claim(Date.now(), 1 + Math.floor(Math.random() * 40))))).flat()
      expect(new Set(claimed.map((j) => j.id)).size).toBe(claimed.length)
      await Promise.all(claimed.map((j, i) => (i % 3 ? s.complete(j.id, new TextEncoder().encode('1'), Date.now()) : s.cancel(j.id, Date.now()))))
      const c = await s.counts()
      expect(c.queued + c.running + c.succeeded + c.failed + c.canceled).toBe(n)
      expect(c.queued).toBe(n - claimed.length)
      expect(c.running).toBe(0)
      await s.close()
    } finally {
      tmp.remove()
    }
  })
})
