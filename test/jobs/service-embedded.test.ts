// The JobService contract (service-suite.ts) on the embedded runner over bun:sqlite.
import { afterAll } from 'bun:test'
import { join } from 'node:path'
import { silentLogger } from '../../src/log.ts'
import { JobRunner } from '../../src/jobs/runner.ts'
import { openSqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { tempDir } from '../support/deps.ts'
import { FakePool } from './fake-pool.ts'
import { runJobServiceSuite } from './service-suite.ts'

const tmp = tempDir('highperf-service-')
afterAll(() => tmp.remove())

runJobServiceSuite({
  name: 'embedded (bun:sqlite)',
  multiNode: false,
  async open(ns, o = {}) {
    const runner = new JobRunner({
      store: openSqliteJobStore(join(tmp.dir, `${ns}.sqlite`)),
      pool: o.pool ?? new FakePool(),
      log: silentLogger(),
      concurrency: o.concurrency ?? 4,
      queueLimit: o.queueLimit ?? 10_000,
      backoffBase: o.backoffBase ?? 5,
      ttl: 3_600_000,
    })
    await runner.start()
    return runner
  },
  async cleanup() {},
})
