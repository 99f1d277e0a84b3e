/**
 * The WAL of every database stays bounded while the server writes (issue #11, item 5).
 *
 * Before the fix, `POST /users` grew users.sqlite-wal by ~13 KB per insert and never checkpointed
 * it (an INSERT … RETURNING read with `get()` commits in sqlite3_reset(), which skips SQLite's
 * automatic checkpoint: see `runReturning` in src/store/sqlite.ts): 3 000 inserts left a 40 MB
 * WAL. With the automatic checkpoint every ~1000 pages the WAL stays near 4 MB.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer } from '../../src/server.ts'
import { SqliteMessageStore } from '../../src/store/messages.ts'
import { openDatabase, WAL_SIZE_LIMIT } from '../../src/store/sqlite.ts'
import { SqliteUserStore } from '../../src/store/users.ts'
import { openSqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { newJob } from '../../src/jobs/model.ts'
import { tempDir } from '../support/deps.ts'
import { startFakeLlm } from '../support/fake-llm.ts'

const tmp = tempDir('highperf-wal-')
const fake = startFakeLlm()
afterAll(() => {
  fake.stop()
  tmp.remove()
})

/** Bytes of a WAL between two automatic checkpoints (1000 pages of 4 KiB) plus slack for one transaction. */
const WAL_BOUND = 6 * 1024 * 1024
const walSize = (db: string) => statSync(`${db}-wal`).size

/** Runs `total` calls of `one(i)` over `connections` concurrent loops. */
async function load(total: number, connections: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < total) await one(next++)
  }))
}

describe('WAL size under sustained writes', () => {
  for (const locking of ['exclusive', 'shared'] as const) {
    test(`POST /users and POST /messages over HTTP (16 connections, SQLITE_LOCKING=${locking}): each WAL stays under 6 MB after 3 000 inserts`, async () => {
      const dataDir = join(tmp.dir, `http-${locking}`)
      const srv = await startServer(
        testConfig({
          port: 0, host: '127.0.0.1', dataDir, workers: 1, rateLimitRps: 0, sqliteLocking: locking,
          llmBaseUrl: fake.url, llmApiKey: 'sk-test', llmModel: 'fake-1', llmConcurrency: 16,
        }),
        { log: silentLogger() },
      )
      try {
        const post = async (path: string, body: unknown, want: number) => {
          const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
          if (res.status !== want) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`)
          await res.arrayBuffer()
        }
        await load(3000, 16, (i) => post('users', { name: `user ${i}`, email: `u${i}@example.com` }, 201))
        await load(3000, 16, (i) => post('messages', { input: `hello ${i}` }, 201))
        const users = walSize(join(dataDir, 'users.sqlite'))
        const messages = walSize(join(dataDir, 'messages.sqlite'))
        expect({ users: users < WAL_BOUND, messages: messages < WAL_BOUND, sizes: { users, messages } }).toMatchObject({ users: true, messages: true })
        // The checkpointed rows are all there.
        expect(srv.deps.users.count()).toBe(3000)
        expect(srv.deps.messages.count()).toBe(3000)
      } finally {
        await srv.shutdown()
      }
    }, 120_000)
  }

  test('the stores on their own: users (create and delete), messages and jobs (insert, claim, complete) keep the WAL under 6 MB', async () => {
    const dir = join(tmp.dir, 'stores')
    const users = SqliteUserStore.open(join(dir, 'users.sqlite'), { exclusive: true })
    const messages = SqliteMessageStore.open(join(dir, 'messages.sqlite'))
    const jobs = openSqliteJobStore(join(dir, 'jobs.sqlite'))
    try {
      for (let i = 0; i < 3000; i++) {
        const u = await users.create({ name: `n${i}`, email: `u${i}@example.com` })
        if (i % 2 === 0) await users.delete(u.id)
        await messages.create({ input: `in ${i}`, response: `out ${i}`, model: 'm', usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } })
      }
      const enc = new TextEncoder()
      await load(3000, 32, async () => {
        await jobs.insert(newJob({ task: 'echo', input: '{"v":1}' }, Date.now()))
        const { jobs: [job] } = await jobs.claim(Date.now(), 1, { owner: 'wal-test', until: Date.now() + 60_000 })
        if (job) await jobs.complete(job, enc.encode('{"v":1}'), Date.now())
      })
      const sizes = { users: walSize(join(dir, 'users.sqlite')), messages: walSize(join(dir, 'messages.sqlite')), jobs: walSize(join(dir, 'jobs.sqlite')) }
      expect(Object.values(sizes).every((s) => s < WAL_BOUND) ? 'bounded' : sizes).toBe('bounded')
      expect(users.count()).toBe(1500)
    } finally {
      users.close()
      messages.close()
      await jobs.close()
    }
  }, 120_000)

  test('journal_size_limit: after one 20 MB transaction the restarted WAL is cut back to the limit', () => {
    const path = join(tmp.dir, 'burst.sqlite')
    const db = openDatabase(path)
    try {
      db.run('CREATE TABLE blobs (b BLOB)')
      const insert = db.prepare('INSERT INTO blobs (b) VALUES (?1)')
      const chunk = new Uint8Array(64 * 1024).fill(7)
      db.transaction(() => { for (let i = 0; i < 320; i++) insert.run(chunk) })()
      expect(walSize(path)).toBeGreaterThan(20 * 1024 * 1024) // the burst itself
      // The commit above checkpointed it (nothing reads); the next write restarts the WAL and truncates it.
      insert.run(new Uint8Array(10))
      expect(walSize(path)).toBeLessThanOrEqual(WAL_SIZE_LIMIT)
      insert.finalize()
    } finally {
      db.close()
    }
  })
})
