/**
 * The users and messages stores' writes through the group commit (src/store/group-commit.ts):
 * every write of one event-loop turn in one transaction, a write's own failure (a taken email)
 * rejecting it alone, a failed COMMIT rejecting the whole batch with nothing stored, and, with
 * another connection holding the write lock, a wait that leaves the event loop free.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { AppError } from '../../src/errors.ts'
import { GroupCommit } from '../../src/store/group-commit.ts'
import { SqliteMessageStore } from '../../src/store/messages.ts'
import { openDatabase, SHARED_BUSY_SYNC_MS } from '../../src/store/sqlite.ts'
import { SqliteUserStore } from '../../src/store/users.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-group-commit-')
afterAll(() => tmp.remove())
let n = 0
const path = () => join(tmp.dir, `db-${++n}.sqlite`)

const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason as AppError).code : 'ok')

/** The largest gap between ticks of a 1 ms interval while `run` goes on: how long the loop froze. */
async function loopFrozen<T>(run: () => Promise<T>): Promise<{ value: T; worstGapMs: number }> {
  let last = performance.now()
  let worst = 0
  const tick = setInterval(() => {
    const now = performance.now()
    worst = Math.max(worst, now - last)
    last = now
  }, 1)
  try {
    return { value: await run(), worstGapMs: worst }
  } finally {
    clearInterval(tick)
  }
}

describe('users through the group commit', () => {
  test('writes of one turn commit together: a taken email (also taken earlier in the same batch) rejects that write alone; the rest commit', async () => {
    const file = path()
    const users = SqliteUserStore.open(file)
    await users.create({ name: 'Old', email: 'old@example.com' })
    const results = await Promise.allSettled([
      users.create({ name: 'Ada', email: 'ada@example.com' }),
      users.create({ name: 'Ada again', email: 'ADA@example.com' }), // taken by the write just before, same batch
      users.create({ name: 'Bob', email: 'bob@example.com' }),
      users.create({ name: 'Old again', email: 'Old@Example.com' }), // taken before the batch
      users.create({ name: 'Cy', email: 'cy@example.com' }),
    ])
    expect(results.map(codeOf)).toEqual(['ok', 'conflict', 'ok', 'conflict', 'ok'])
    const conflict = (results[1] as PromiseRejectedResult).reason as AppError
    expect([conflict.status, conflict.details]).toEqual([409, [{ path: '/email', message: 'already registered' }]])
    expect(users.count()).toBe(4)
    expect((await users.list({ limit: 10 })).items.map((u) => u.email)).toEqual(['old@example.com', 'ada@example.com', 'bob@example.com', 'cy@example.com'])
    users.close()
  })

  test('update and delete join the same batch; a write resolves only once its COMMIT has returned', async () => {
    const file = path()
    const users = SqliteUserStore.open(file)
    const ada = await users.create({ name: 'Ada', email: 'ada@example.com' })
    const bob = await users.create({ name: 'Bob', email: 'bob@example.com' })
    const other = new Database(file, { readonly: true })
    const seen: number[] = []
    const [renamed, taken, gone, missing] = await Promise.allSettled([
      users.update(ada.id, { name: 'Ada L.' }).then((u) => {
        // Committed: another connection sees it when the promise resolves.
        seen.push((other.query('SELECT count(*) AS n FROM users WHERE name = ?1').get('Ada L.') as { n: number }).n)
        return u
      }),
      users.update(ada.id, { email: 'BOB@example.com' }),
      users.delete(bob.id),
      users.update(999, { name: 'nobody' }),
    ])
    expect(renamed).toEqual({ status: 'fulfilled', value: { ...ada, name: 'Ada L.' } })
    expect(codeOf(taken)).toBe('conflict') // Bob's email, and Bob's delete comes later in the batch
    expect(gone).toEqual({ status: 'fulfilled', value: true })
    expect(missing).toEqual({ status: 'fulfilled', value: null })
    expect(seen).toEqual([1])
    other.close()
    users.close()
  })

  test('a failed COMMIT rejects every write of the batch, nothing of it is stored, and the next batch commits', async () => {
    const file = path()
    const db = openDatabase(file)
    const users = new SqliteUserStore(db)
    // A real COMMIT failure: a deferred foreign key, checked only at COMMIT, broken by a trigger
    // when a user named "poison" is inserted.
    db.run(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
      CREATE TRIGGER poison AFTER INSERT ON users WHEN NEW.name = 'poison' BEGIN INSERT INTO child VALUES (42); END;`)
    const results = await Promise.allSettled([
      users.create({ name: 'Ada', email: 'ada@example.com' }),
      users.create({ name: 'poison', email: 'p@example.com' }),
      users.create({ name: 'Bob', email: 'bob@example.com' }),
    ])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected'])
    for (const r of results) expect(String((r as PromiseRejectedResult).reason)).toContain('FOREIGN KEY constraint failed')
    expect(db.inTransaction).toBe(false)
    expect(users.count()).toBe(0)
    expect((await users.create({ name: 'Ada', email: 'ada@example.com' })).name).toBe('Ada')
    expect(users.count()).toBe(1)
    users.close()
  })

  test('closing commits the writes still queued', async () => {
    const file = path()
    const users = SqliteUserStore.open(file)
    const pending = [users.create({ name: 'A', email: 'a@example.com' }), users.create({ name: 'B', email: 'b@example.com' })]
    users.close()
    expect((await Promise.all(pending)).map((u) => u.id)).toEqual([1, 2])
    await expect(users.create({ name: 'C', email: 'c@example.com' })).rejects.toThrow('closed')
    const again = SqliteUserStore.open(file)
    expect(again.count()).toBe(2)
    again.close()
  })
})

describe('another process holds the write lock (shared mode)', () => {
  const shared = (file: string, busyRetryMs: number) => SqliteUserStore.open(file, { exclusive: false, requestBusyTimeoutMs: SHARED_BUSY_SYNC_MS, busyRetryMs })

  test('the batch waits for it off the event loop and commits once it is released', async () => {
    const file = path()
    const users = shared(file, 5000)
    await users.create({ name: 'Ada', email: 'ada@example.com' })
    const other = new Database(file)
    other.run('BEGIN IMMEDIATE')
    setTimeout(() => other.run('COMMIT'), 300)
    const t0 = performance.now()
    const { value, worstGapMs } = await loopFrozen(() => Promise.all([
      users.create({ name: 'Bob', email: 'bob@example.com' }),
      users.create({ name: 'Cy', email: 'cy@example.com' }),
    ]))
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250)
    expect(value.map((u) => u.name)).toEqual(['Bob', 'Cy'])
    // Each try blocks at most the 5 ms busy wait; SQLite's own 100 ms would show here. Generous
    // for a loaded machine.
    expect(worstGapMs).toBeLessThan(60)
    other.close()
    users.close()
  })

  test('past busyRetryMs every write of the batch is 503 storage_busy, and the loop was free meanwhile', async () => {
    const file = path()
    const users = shared(file, 300)
    const messages = SqliteMessageStore.open(path(), { exclusive: false, requestBusyTimeoutMs: SHARED_BUSY_SYNC_MS, busyRetryMs: 300 })
    await users.create({ name: 'Ada', email: 'ada@example.com' })
    const other = new Database(file)
    other.run('BEGIN IMMEDIATE')
    try {
      const { value, worstGapMs } = await loopFrozen(() => Promise.allSettled([users.create({ name: 'Bob', email: 'bob@example.com' }), users.delete(1)]))
      for (const r of value) {
        const err = (r as PromiseRejectedResult).reason as AppError
        expect([err.code, err.status, err.retryAfter]).toEqual(['storage_busy', 503, 1])
      }
      expect(worstGapMs).toBeLessThan(60)
      expect(users.get(1)?.name).toBe('Ada') // reads go on
      expect((await messages.create({ input: 'hi', response: 'ho', model: 'm', usage: null })).id).toBe(1) // another file: not held
    } finally {
      other.run('ROLLBACK')
      other.close()
    }
    expect((await users.create({ name: 'Bob', email: 'bob@example.com' })).id).toBe(2)
    users.close()
    messages.close()
  })
})

describe('GroupCommit on its own', () => {
  // The retry backoff doubled with `2 << tries`: from the 30th try (a lock held ~0.9 s, well inside
  // the 1 s SHARED_WRITE_WAIT_MS) the shift overflowed to a negative delay, Bun printed a
  // TimeoutNegativeWarning and ran the timer after 1 ms, so the rest of the wait tried BEGIN in a
  // tight loop, each try blocking the event loop for the 5 ms busy wait.
  test('a lock held for the whole wait is tried again 2-32 ms apart to the end, never faster', async () => {
    const file = path()
    const db = openDatabase(file, { busyTimeoutMs: SHARED_BUSY_SYNC_MS })
    db.run('CREATE TABLE t (v TEXT)')
    const commits = new GroupCommit(db, { busyRetryMs: 1500 })
    const other = new Database(file)
    other.run('BEGIN IMMEDIATE')
    const delays: number[] = []
    const realSetTimeout = globalThis.setTimeout
    globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      if (fn === commits.flush) delays.push(ms ?? 0)
      return realSetTimeout(fn, ms, ...args)
    }) as typeof setTimeout
    try {
      const [r] = await Promise.allSettled([commits.write(() => db.run("INSERT INTO t VALUES ('x')"))])
      expect(((r as PromiseRejectedResult).reason as AppError).code).toBe('storage_busy')
    } finally {
      globalThis.setTimeout = realSetTimeout
      other.run('ROLLBACK')
      other.close()
    }
    // ~16-32 ms apart once backed off: some 50 tries in 1.5 s, not hundreds.
    expect(delays.length).toBeGreaterThan(10)
    expect(delays.length).toBeLessThan(100)
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1)
    expect(Math.max(...delays)).toBeLessThanOrEqual(32)
    expect(delays.slice(10).every((ms) => ms >= 16)).toBe(true)
    db.close()
  })

  test('a write names its operation in its storage error', async () => {
    const db = new Database(':memory:', { strict: true })
    db.run('CREATE TABLE t (v TEXT)')
    db.run('PRAGMA max_page_count = 2')
    const commits = new GroupCommit(db)
    const big = 'x'.repeat(50_000)
    const [named, unnamed] = await Promise.allSettled([
      commits.write(() => db.run('INSERT INTO t VALUES (?1)', [big]), 'store the thing'),
      commits.write(() => db.run('INSERT INTO t VALUES (?1)', [big])),
    ])
    expect(((named as PromiseRejectedResult).reason as AppError).message).toStartWith('Cannot store the thing:')
    expect(((unnamed as PromiseRejectedResult).reason as AppError).message).toStartWith('Cannot write:')
    db.close()
  })
})
