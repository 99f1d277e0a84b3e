import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testConfig } from '../src/config.ts'
import { buildDeps } from '../src/deps.ts'
import { createLogger } from '../src/log.ts'
import { WorkerPool } from '../src/pool/pool.ts'
import { StartupError } from '../src/startup/index.ts'
import { tempDir, testDeps } from './support/deps.ts'

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
    await t.deps.users.create({ name: 'Ada', email: 'ada@example.com' })
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

describe('buildDeps: start-up failures', () => {
  test('a damaged messages.sqlite is a StartupError naming it, and what was opened before is closed again', async () => {
    const tmp = tempDir()
    try {
      const dataDir = join(tmp.dir, 'data')
      mkdirSync(dataDir)
      writeFileSync(join(dataDir, 'messages.sqlite'), 'no database here '.repeat(500))
      // messages.sqlite opens last: users.sqlite (exclusively locked), jobs and the pool are open by then.
      const config = testConfig({ dataDir, filesDir: tmp.dir, workers: 1 })
      const err = await buildDeps(config, createLogger({ logLevel: 'silent' })).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(StartupError)
      expect(err).toMatchObject({ code: 'database', path: join(dataDir, 'messages.sqlite') })
      // Closed again: another connection can read users.sqlite (its exclusive lock is gone).
      expect(readableByOthers(dataDir)).toBe(true)
    } finally {
      tmp.remove()
    }
  })

  test('a missing FILES_DIR is one warning, at build time, naming it', async () => {
    const lines: Array<{ level: number; msg: string }> = []
    const log = createLogger({ logLevel: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)) } })
    const tmp = tempDir()
    const missing = join(tmp.dir, 'public')
    const built = await buildDeps(testConfig({ dataDir: join(tmp.dir, 'data'), filesDir: missing, workers: 1 }), log, { startPool: false })
    try {
      const warnings = lines.filter((l) => l.level === 40 && l.msg.includes(missing))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]?.msg).toContain('FILES_DIR (--files-dir)')
    } finally {
      await built.close()
      tmp.remove()
    }
  })
})
