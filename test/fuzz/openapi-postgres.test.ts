/**
 * The fuzz run of openapi.test.ts (test/fuzz/run.ts) against a server whose users and messages
 * live on PostgreSQL (`DATABASE_URL`, a throwaway database on 127.0.0.1:5432): PostgreSQL refuses
 * what bun:sqlite stores (a NUL byte in text, ids past int8, invalid UTF-8), so every such input
 * must still end in a 4xx with the envelope, never a 500. Task schemas are pool work, the same on
 * every backend: left to openapi.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type RunningServer } from '../../src/server.ts'
import { silentLogger } from '../../src/log.ts'
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts'
import { tempDir } from '../support/deps.ts'
import { tempDatabase } from '../support/postgres.ts'
import { fuzzConfig, fuzzServer } from './run.ts'

describe('fuzz on PostgreSQL (DATABASE_URL)', () => {
  let srv: RunningServer
  let fake: FakeLlm
  let dir: { dir: string; remove(): void }
  let db: Awaited<ReturnType<typeof tempDatabase>>

  beforeAll(async () => {
    dir = tempDir('highperf-fuzz-pg-')
    fake = startFakeLlm()
    db = await tempDatabase()
    srv = await startServer(fuzzConfig(dir.dir, fake.url, { databaseUrl: db.url }), { log: silentLogger() })
  })
  afterAll(async () => {
    await srv?.shutdown()
    fake?.stop()
    await db?.drop()
    dir?.remove()
  })

  test('no hostile request gets a 5xx, and every non-2xx is the JSON error envelope', async () => {
    const run = await fuzzServer(srv.url, srv.port, { tasks: false })
    console.log(`fuzz on PostgreSQL: ${run.summary}`)
    expect(run.problems).toEqual([])
  }, 120_000)
})
