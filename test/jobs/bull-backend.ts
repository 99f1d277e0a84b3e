/**
 * The BullJobs side of the JobService contract: a service over Redis (127.0.0.1:6379) or
 * PostgreSQL (127.0.0.1:5432, database test), each run in its own key prefix / schema,
 * removed afterwards. `.ci/run` starts both when they are down (scripts/services.sh).
 */
import { Queue } from 'bullmq'
import { silentLogger } from '../../src/log.ts'
import { BullJobs } from '../../src/jobs/bullmq/index.ts'
import type { SuiteBackend } from './service-suite.ts'
import { FakePool } from './fake-pool.ts'

export const REDIS_URL = 'redis://127.0.0.1:6379'
export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test'

export function bullBackend(url: string, name: string, timeoutMs: number): SuiteBackend {
  const pg = url.startsWith('postgres')
  return {
    name,
    multiNode: true,
    timeoutMs,
    async open(ns, o = {}) {
      const jobs = new BullJobs({
        url, pool: o.pool ?? new FakePool(), log: silentLogger(), concurrency: o.concurrency ?? 4, queueLimit: o.queueLimit ?? 10_000,
        backoffBase: o.backoffBase ?? 5, ttl: 3_600_000, lease: 2000, namespace: ns, queueName: 'suite', countsEvery: 100,
      })
      await jobs.start()
      return jobs
    },
    async cleanup(ns) {
      if (pg) {
        const sql = new Bun.SQL(PG_URL)
        await sql.unsafe(`DROP SCHEMA IF EXISTS "${ns}" CASCADE`)
        await sql.close()
        return
      }
      const q = new Queue('suite', { connection: { host: '127.0.0.1', port: 6379 }, prefix: ns })
      await q.obliterate({ force: true })
      await q.close()
    },
  }
}
