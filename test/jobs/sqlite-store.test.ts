import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { openSqliteJobStore } from '../../src/jobs/sqlite-store.ts'
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
})
