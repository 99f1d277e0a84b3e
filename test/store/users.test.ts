import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { SqliteUserStore } from '../../src/store/users.ts'
import { openDatabase } from '../../src/store/sqlite.ts'
import { tempDir } from '../support/deps.ts'
import { runUserStoreSuite } from './store-suite.ts'

const tmp = tempDir('highperf-users-store-')
afterAll(() => tmp.remove())
let n = 0
const fresh = () => SqliteUserStore.open(join(tmp.dir, `users-${++n}.sqlite`))

// The contract every users backend keeps (PostgreSQL runs it too: ./postgres.test.ts).
runUserStoreSuite('sqlite', async () => ({ store: fresh() }))

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

  test('exclusive: the owner reads and writes, another connection is locked out until it closes', async () => {
    const path = join(tmp.dir, 'owned.sqlite')
    const owner = SqliteUserStore.open(path, { exclusive: true })
    const ada = await owner.create({ name: 'Ada', email: 'ada@example.com' })
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
  test('users survive closing and reopening the file', async () => {
    const path = join(tmp.dir, 'reopen.sqlite')
    const first = SqliteUserStore.open(path)
    const ada = await first.create({ name: 'Ada', email: 'ada@example.com' })
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
      for (let i = 0; i < ${perProcess}; i++) await users.create({ name: '${tag}' + i, email: '${tag}' + i + '@x.io' })
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
