/**
 * The fuzz run of openapi.test.ts (test/fuzz/run.ts) against a server whose jobs run on BullMQ's
 * PostgreSQL backend (`JOBS_URL=postgres://…`, a throwaway database on 127.0.0.1:5432): job ids,
 * cursors, priorities and Idempotency-Keys through SQL instead of Redis. Only the /jobs
 * and /admin/queues operations (the rest does not touch the job backend and runs in the
 * other fuzz files).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type RunningServer } from '../../src/server.ts'
import { silentLogger } from '../../src/log.ts'
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts'
import { tempDir } from '../support/deps.ts'
import { tempDatabase } from '../support/postgres.ts'
import { fuzzConfig, fuzzServer } from './run.ts'

describe('fuzz on BullMQ over PostgreSQL (JOBS_URL=postgres://)', () => {
  let srv: RunningServer
  let fake: FakeLlm
  let dir: { dir: string; remove(): void }
  let db: Awaited<ReturnType<typeof tempDatabase>>

  beforeAll(async () => {
    dir = tempDir('highperf-fuzz-bull-pg-')
    fake = startFakeLlm()
    db = await tempDatabase()
    srv = await startServer(fuzzConfig(dir.dir, fake.url, { jobsUrl: db.url }), { log: silentLogger() })
  }, 30_000)
  afterAll(async () => {
    await srv?.shutdown()
    fake?.stop()
    await db?.drop()
    dir?.remove()
  })

  test('no hostile request to /jobs gets a 5xx, and every non-2xx is the JSON error envelope', async () => {
    const run = await fuzzServer(srv.url, srv.port, { tasks: false, paths: (p) => p.startsWith('/jobs') || p.startsWith('/admin/queues') })
    console.log(`fuzz on BullMQ over PostgreSQL: ${run.summary}`)
    expect(run.problems).toEqual([])
  }, 120_000)
})
