import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { WorkerPool } from '../src/pool/pool.ts'
import { testDeps } from './support/deps.ts'

// Whether another connection can read the users database while the server's stores are open.
function readableByOthers(dataDir: string): boolean {
  const db = new Database(join(dataDir, 'users.sqlite'))
  try {
    db.run('PRAGMA busy_timeout = 0')
    db.query('SELECT count(*) AS n FROM users').get()
    return true
  } catch (err) {
    if (/locked/.test(String(err))) return false
    throw err
  } finally {
    db.close()
  }
}

/** Whether another connection can read users.sqlite while a server built with `overrides` has it open. */
async function sharedWith(overrides: Parameters<typeof testDeps>[0]): Promise<boolean> {
  const t = await testDeps(overrides)
  try {
    t.deps.users.create({ name: 'Ada', email: 'ada@example.com' })
    return readableByOthers(t.deps.config.dataDir)
  } finally {
    await t.close()
  }
}

describe('buildDeps: SQLITE_LOCKING', () => {
  test('auto without REUSE_PORT: this process owns users.sqlite, no other connection reads it', async () => {
    expect(await sharedWith({})).toBe(false)
  })

  test('auto with REUSE_PORT, and shared: other processes share the file', async () => {
    expect(await sharedWith({ reusePort: true })).toBe(true)
    expect(await sharedWith({ sqliteLocking: 'shared' })).toBe(true)
  })

  test('exclusive even with REUSE_PORT when asked', async () => {
    expect(await sharedWith({ reusePort: true, sqliteLocking: 'exclusive' })).toBe(false)
  })
})

describe('buildDeps: POOL_WAKE', () => {
  for (const wake of ['message', 'waitAsync'] as const) {
    test(`${wake}: the pool runs tasks one at a time and many at once`, async () => {
      const t = await testDeps({ workers: 1, poolWake: wake })
      try {
        expect(t.deps.pool).toBeInstanceOf(WorkerPool)
        expect((t.deps.pool as WorkerPool).wake).toBe(wake)
        const dec = new TextDecoder()
        for (let i = 0; i < 20; i++) expect(dec.decode(await t.deps.pool.run('echo', String(i)))).toBe(String(i))
        const many = await Promise.all(Array.from({ length: 500 }, (_, i) => t.deps.pool.run('echo', String(i))))
        expect(many.map((b) => Number(dec.decode(b)))).toEqual(Array.from({ length: 500 }, (_, i) => i))
      } finally {
        await t.close()
      }
    })
  }
})
