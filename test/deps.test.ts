import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
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

describe('buildDeps: SQLITE_LOCKING', () => {
  test('auto without REUSE_PORT: this process owns users.sqlite, no other connection reads it', async () => {
    const t = await testDeps()
    try {
      t.deps.users.create({ name: 'Ada', email: 'ada@example.com' })
      expect(readableByOthers(t.deps.config.dataDir)).toBe(false)
    } finally {
      await t.close()
    }
  })

  test('auto with REUSE_PORT, and shared: other processes share the file', async () => {
    for (const overrides of [{ reusePort: true }, { sqliteLocking: 'shared' as const }]) {
      const t = await testDeps(overrides)
      try {
        t.deps.users.create({ name: 'Ada', email: 'ada@example.com' })
        expect(readableByOthers(t.deps.config.dataDir)).toBe(true)
      } finally {
        await t.close()
      }
    }
  })

  test('exclusive even with REUSE_PORT when asked', async () => {
    const t = await testDeps({ reusePort: true, sqliteLocking: 'exclusive' })
    try {
      t.deps.users.create({ name: 'Ada', email: 'ada@example.com' })
      expect(readableByOthers(t.deps.config.dataDir)).toBe(false)
    } finally {
      await t.close()
    }
  })
})
