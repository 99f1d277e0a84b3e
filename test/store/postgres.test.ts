/**
 * The users and messages contracts (./store-suite.ts) on the real PostgreSQL
 * (127.0.0.1:5432, trust auth, database `test`), each test in a schema of its own that is dropped
 * after it, so runs never collide; plus what only PostgreSQL has: SQLSTATE mapping, an outage
 * while serving (a TCP proxy this test kills), the start-up check.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { AppError } from '../../src/errors.ts'
import { openPostgresStores, postgresError, redactUrl } from '../../src/store/postgres/index.ts'
import { runMessageStoreSuite, runUserStoreSuite } from './store-suite.ts'
import { TcpProxy } from '../support/tcp-proxy.ts'
import { PG_URL } from '../support/postgres.ts'
import { connectAtStart, StartupError } from '../../src/startup/index.ts'


let n = 0
const run = `hp_t${process.pid}_${Date.now().toString(36)}`
const admin = new SQL(PG_URL, { max: 1 })
afterAll(async () => {
  // Any schema a failed test left behind.
  const left: Array<{ nspname: string }> = await admin`SELECT nspname FROM pg_namespace WHERE nspname LIKE ${`${run}%`}`
  for (const { nspname } of left) await admin.unsafe(`DROP SCHEMA ${nspname} CASCADE`)
  await admin.close()
})

async function fresh() {
  const schema = `${run}_${++n}`
  const pg = await openPostgresStores(PG_URL, { schema, max: 4 })
  const cleanup = async () => {
    await pg.close()
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  }
  return { pg, cleanup }
}

runUserStoreSuite('postgres', async () => {
  const { pg, cleanup } = await fresh()
  return { store: pg.users, cleanup }
})

runMessageStoreSuite('postgres', async () => {
  const { pg, cleanup } = await fresh()
  return { store: pg.messages, cleanup }
})

describe('PostgreSQL stores', () => {
  test('the duplicate email is PostgreSQL\'s unique violation, SQLSTATE 23505 in errno', async () => {
    const { pg, cleanup } = await fresh()
    try {
      await pg.users.create({ name: 'Ada', email: 'ada@example.com' })
      // What the store maps: the raw error of the same insert.
      const sql = new SQL(PG_URL, { max: 1, connection: { search_path: `${run}_${n}` } })
      let raw: unknown
      try {
        await sql`INSERT INTO users (name, email, created_at) VALUES ('x', 'ADA@example.com', now())`
      } catch (err) {
        raw = err
      } finally {
        await sql.close()
      }
      expect(raw).toBeInstanceOf(SQL.PostgresError)
      expect((raw as { errno: string }).errno).toBe('23505')
      expect((raw as { code: string }).code).toBe('ERR_POSTGRES_SERVER_ERROR')
    } finally {
      await cleanup()
    }
  })

  test('two servers creating the schema at once both start (the advisory lock)', async () => {
    const schema = `${run}_${++n}`
    const both = await Promise.all([openPostgresStores(PG_URL, { schema, max: 1 }), openPostgresStores(PG_URL, { schema, max: 1 })])
    try {
      const ada = await both[0].users.create({ name: 'Ada', email: 'ada@example.com' })
      expect(await both[1].users.get(ada.id)).toEqual(ada)
    } finally {
      for (const pg of both) await pg.close()
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    }
  })

  test('PostgreSQL gone while serving: 503 storage_unavailable with Retry-After, then it works again when it is back', async () => {
    const proxy = await TcpProxy.start(5432)
    const schema = `${run}_${++n}`
    const pg = await openPostgresStores(`postgres://postgres@127.0.0.1:${proxy.port}/test`, { schema, max: 2, connectionTimeoutSec: 2 })
    try {
      const ada = await pg.users.create({ name: 'Ada', email: 'ada@example.com' })
      proxy.stop()
      for (const call of [() => pg.users.get(ada.id), () => pg.users.create({ name: 'B', email: 'b@x.io' }), () => pg.messages.list({ limit: 5 })]) {
        let err: unknown
        try { await call() } catch (e) { err = e }
        expect(err).toBeInstanceOf(AppError)
        expect((err as AppError).code).toBe('storage_unavailable')
        expect((err as AppError).status).toBe(503)
        expect((err as AppError).retryAfter).toBeGreaterThan(0)
      }
      await proxy.restart()
      // The pool reconnects by itself; allow a few tries for connections it still thinks alive.
      let back: unknown
      for (let i = 0; i < 20 && back === undefined; i++) {
        try { back = await pg.users.get(ada.id) } catch { await Bun.sleep(100) }
      }
      expect(back).toEqual(ada)
    } finally {
      proxy.stop()
      await pg.close()
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    }
  }, 30_000)

  test('PostgreSQL hung (nothing answers): each call is a 503 within the query timeout, and works again once it answers', async () => {
    const proxy = await TcpProxy.start(5432)
    const schema = `${run}_${++n}`
    const pg = await openPostgresStores(`postgres://postgres@127.0.0.1:${proxy.port}/test`, { schema, max: 2, queryTimeoutMs: 300 })
    try {
      const ada = await pg.users.create({ name: 'Ada', email: 'ada@example.com' })
      proxy.freeze()
      for (const call of [() => pg.users.get(ada.id), () => pg.messages.count()]) {
        const t0 = performance.now()
        let err: unknown
        try { await call() } catch (e) { err = e }
        // Without the timeout this call never settled (Bun.sql has no timeout of its own).
        expect(performance.now() - t0).toBeLessThan(5000)
        expect((err as AppError).code).toBe('storage_unavailable')
      }
      await proxy.restart()
      let back: unknown
      for (let i = 0; i < 30 && back === undefined; i++) {
        try { back = await pg.users.get(ada.id) } catch { await Bun.sleep(100) }
      }
      expect(back).toEqual(ada)
    } finally {
      proxy.stop()
      await pg.close()
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    }
  }, 30_000)

  test('a model\'s answer holding U+0000 (text refuses it) is stored with U+FFFD in its place, not a 500', async () => {
    const { pg, cleanup } = await fresh()
    try {
      // The routes refuse a client's NUL (422); the answer and the model name come from the upstream.
      const m = await pg.messages.create({ input: 'hi', response: 'a\u0000b\u0000', model: 'm\u0000', usage: null })
      expect(m.response).toBe('a\ufffdb\ufffd')
      expect(m.model).toBe('m\ufffd')
      expect((await pg.messages.get(m.id))?.response).toBe('a\ufffdb\ufffd')
    } finally {
      await cleanup()
    }
  })

  test('text PostgreSQL cannot store (SQLSTATE 22021) is a 422, not a 500', async () => {
    const sql = new SQL(PG_URL, { max: 1 })
    let raw: unknown
    try {
      await sql`SELECT ${'a\u0000'}::text`
    } catch (err) {
      raw = err
    } finally {
      await sql.close()
    }
    const mapped = postgresError(raw, 'store the user')
    expect(mapped).toBeInstanceOf(AppError)
    expect((mapped as AppError).code).toBe('validation_failed')
  })

  test('a bug (bad SQL) is not disguised as an outage', () => {
    const err = Object.assign(new SQL.PostgresError('syntax error', { code: 'ERR_POSTGRES_SERVER_ERROR', errno: '42601' } as never), {})
    expect(postgresError(err, 'read')).toBe(err)
  })

  test('an unreachable DATABASE_URL at start is one StartupError line without the password', async () => {
    const url = 'postgres://app:s3cret@127.0.0.1:1/test'
    let err: unknown
    try {
      await connectAtStart(url, () => openPostgresStores(url, { connectionTimeoutSec: 2 }))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(StartupError)
    const message = (err as StartupError).message
    expect(message).toContain('DATABASE_URL postgres://app:***@127.0.0.1:1/test cannot be used')
    expect(message).not.toContain('s3cret')
    expect(message).not.toContain('\n')
    expect(redactUrl(url)).toBe('postgres://app:***@127.0.0.1:1/test')
  })
})
