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
      const lease = { owner: 'stress', until: Date.now() + 60_000 }
      const claimed = (await Promise.all(Array.from({ length: 50 }, () => s.claim(Date.now(), 1 + Math.floor(Math.random() * 40), lease)))).flatMap((c) => c.jobs)
      expect(new Set(claimed.map((j) => j.id)).size).toBe(claimed.length)
      await Promise.all(claimed.map((j, i) => (i % 3 ? s.complete(j, new TextEncoder().encode('1'), Date.now()) : s.cancel(j.id, Date.now()))))
      const c = await s.counts()
      expect(c.queued + c.running + c.succeeded + c.failed + c.canceled).toBe(n)
      expect(c.queued).toBe(n - claimed.length)
      expect(c.running).toBe(0)
      await s.close()
    } finally {
      tmp.remove()
    }
  })

  test('a file from before leases is migrated in place: lease columns added, a job it left running is taken back by the first claim', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const path = join(tmp.dir, 'jobs.sqlite')
      const { Database } = await import('bun:sqlite')
      const old = new Database(path, { create: true })
      old.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, task TEXT NOT NULL, input TEXT NOT NULL, pipeline TEXT, state TEXT NOT NULL,
        priority INTEGER NOT NULL, run_at INTEGER NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
        timeout_ms INTEGER NOT NULL, progress INTEGER NOT NULL DEFAULT 0, progress_message TEXT NOT NULL DEFAULT '', result BLOB,
        error_code TEXT, error_message TEXT, idem_key TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        started_at INTEGER, finished_at INTEGER)`)
      old.run(`INSERT INTO jobs (id, task, input, state, priority, run_at, attempts, max_attempts, timeout_ms, created_at, updated_at, started_at)
        VALUES ('019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33', 'echo', '1', 'running', 0, 1, 1, 3, 1000, 1, 1, 1)`)
      old.close()
      // Two stores open it at once, as processes starting together do: each column is added once.
      const a = openSqliteJobStore(path, { shared: true })
      const b = openSqliteJobStore(path, { shared: true })
      const now = Date.now()
      const res = await a.claim(now, 5, { owner: 'new', until: now + 5000 })
      expect(res.takenBack).toBe(1)
      expect(res.jobs.map((j) => [j.id, j.attempts, j.token, j.owner])).toEqual([['019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33', 2, 1, 'new']])
      expect((await b.complete(res.jobs[0]!, new TextEncoder().encode('1'), now))?.state).toBe('succeeded')
      await a.close()
      await b.close()
    } finally {
      tmp.remove()
    }
  })

  test('shared: a write that finds another process holding the lock waits off the event loop and commits once it is released', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const path = join(tmp.dir, 'jobs.sqlite')
      const s = openSqliteJobStore(path, { shared: true })
      const { Database } = await import('bun:sqlite')
      const other = new Database(path)
      other.run('BEGIN IMMEDIATE')
      const j = newJob({ task: 'echo', input: '1' }, Date.now())
      const t0 = performance.now()
      const inserted = s.insert(j)
      // Timers keep firing while the insert waits: the loop is not frozen in SQLite's busy handler.
      let ticks = 0
      const tick = setInterval(() => { ticks++ }, 5)
      await Bun.sleep(300)
      expect(ticks).toBeGreaterThan(5)
      other.run('COMMIT')
      other.close()
      expect((await inserted).created).toBe(true)
      clearInterval(tick)
      expect(performance.now() - t0).toBeGreaterThanOrEqual(300)
      expect((await s.get(j.id))?.state).toBe('queued')
      await s.close()
    } finally {
      tmp.remove()
    }
  })

  test('the retention sweep deletes in batches of its own transactions and reports them all', async () => {
    const tmp = tempDir('highperf-jobs-')
    try {
      const s = openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
      const t = Date.now()
      const jobs = Array.from({ length: 4500 }, (_, i) => newJob({ task: 'echo', input: String(i) }, t))
      await Promise.all(jobs.map((j) => s.insert(j)))
      const { jobs: claimed } = await s.claim(t, 5000, { owner: 'sweep', until: t + 60_000 })
      await Promise.all(claimed.map((j) => s.complete(j, new TextEncoder().encode('1'), t)))
      await s.insert(newJob({ task: 'echo', input: '"kept"' }, t))
      expect(await s.sweep(t + 1)).toBe(4500)
      expect(await s.counts()).toEqual({ queued: 1, running: 0, succeeded: 0, failed: 0, canceled: 0 })
      await s.close()
    } finally {
      tmp.remove()
    }
  })
})
