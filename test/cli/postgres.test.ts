/**
 * The subcommands with `DATABASE_URL`: `highperf backup` copies only jobs.sqlite (users and
 * messages are PostgreSQL's) and says where the rest is; `highperf --check` tries the database.
 */
import { afterAll, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { backup } from '../../src/cli/backup.ts'
import { checkConfig } from '../../src/cli/check.ts'
import { testConfig } from '../../src/config.ts'
import { PG_URL } from '../support/postgres.ts'
import { openDatabase } from '../../src/store/sqlite.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-backup-pg-')
afterAll(() => tmp.remove())

test('with DATABASE_URL, highperf backup copies jobs.sqlite alone and says users and messages are in PostgreSQL', async () => {
  const dataDir = join(tmp.dir, 'data')
  const db = openDatabase(join(dataDir, 'jobs.sqlite'))
  db.run('CREATE TABLE jobs (id TEXT PRIMARY KEY)')
  db.close()
  const lines: string[] = []
  const errors: string[] = []
  const out = { line: (t: string) => lines.push(t), error: (t: string) => errors.push(t), text: (t: string) => lines.push(t) }
  const to = join(tmp.dir, 'backup')
  const code = await backup(['--to', to], { DATA_DIR: dataDir, DATABASE_URL: 'postgres://app:pw@127.0.0.1:1/app' }, out)
  expect(errors.join('\n')).toContain('users and messages are in PostgreSQL (DATABASE_URL)')
  expect(code).toBe(0)
  const report = JSON.parse(lines.join('\n')) as { databases: Array<{ name: string }>; elsewhere: string }
  expect(report.databases.map((d) => d.name)).toEqual(['jobs'])
  expect(report.elsewhere).toContain('pg_dump')
  expect(existsSync(join(to, 'jobs.sqlite'))).toBe(true)
  expect(existsSync(join(to, 'users.sqlite'))).toBe(false)
})

test('highperf --check tries DATABASE_URL: ok when PostgreSQL answers, the start-up line (password hidden) when not', async () => {
  const run = async (databaseUrl: string) => {
    const lines: string[] = []
    const out = { line: (t: string) => lines.push(t), error: (t: string) => lines.push(t), text: (t: string) => lines.push(t) }
    const code = await checkConfig(testConfig({ dataDir: join(tmp.dir, 'check'), filesDir: tmp.dir, databaseUrl }), out)
    return { code, text: lines.join('\n') }
  }
  const ok = await run(PG_URL)
  expect(ok.code).toBe(0)
  expect(ok.text).toContain(`ok: DATABASE_URL ${PG_URL} answers`)
  const bad = await run('postgres://app:s3cret@127.0.0.1:1/app')
  expect(bad.code).toBe(2)
  expect(bad.text).toContain('error: DATABASE_URL postgres://app:***@127.0.0.1:1/app cannot be used')
  expect(bad.text).not.toContain('s3cret')
})
