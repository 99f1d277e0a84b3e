/**
 * The test PostgreSQL (127.0.0.1:5432, trust auth, user postgres, database `test`; `.ci/run`
 * makes sure it answers) and throwaway databases on it, so test runs never share tables.
 *
 * @example
 * ```ts
 * const db = await tempDatabase()
 * const t = await testDeps({ databaseUrl: db.url })
 * await db.drop()
 * ```
 */
import { SQL } from 'bun'

/** The test database every test may connect to. */
export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test'

let n = 0

/**
 * A new, empty database named for this process; `drop()` removes it (closing what still uses it).
 *
 * @example const { url, drop } = await tempDatabase()
 */
export async function tempDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `hp_test_${process.pid}_${Date.now().toString(36)}_${++n}`
  const admin = new SQL(PG_URL, { max: 1 })
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await admin.close()
  }
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    async drop() {
      const a = new SQL(PG_URL, { max: 1 })
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await a.close()
      }
    },
  }
}
