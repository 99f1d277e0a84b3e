/**
 * The fuzz run of openapi.test.ts (test/fuzz/run.ts) against a server whose jobs run on BullMQ
 * over Redis (`JOBS_URL=redis://127.0.0.1:6379/14`, its queue removed afterwards): BullMQ has its
 * own ids, cursors, priorities and key limits, so every hostile job id, list cursor, priority and
 * Idempotency-Key must still end in a 4xx with the envelope, never a 500. Rate limits go through
 * Redis too (`RATE_LIMIT_URL`, TRUST_PROXY: the hostile X-Forwarded-For values become keys). Task schemas are pool
 * work, the same on every backend: left to openapi.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Queue } from 'bullmq'
import { startServer, type RunningServer } from '../../src/server.ts'
import { silentLogger } from '../../src/log.ts'
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts'
import { tempDir } from '../support/deps.ts'
import { fuzzConfig, fuzzServer } from './run.ts'

/** A Redis database of its own (others: 10, 11, 13), emptied of its queue afterwards. */
const DB = 14

describe('fuzz on BullMQ over Redis (JOBS_URL)', () => {
  let srv: RunningServer
  let fake: FakeLlm
  let dir: { dir: string; remove(): void }

  beforeAll(async () => {
    dir = tempDir('highperf-fuzz-bull-')
    fake = startFakeLlm()
    srv = await startServer(fuzzConfig(dir.dir, fake.url, {
      jobsUrl: `redis://127.0.0.1:6379/${DB}`,
      // The Redis limiter keyed by the probes' hostile X-Forwarded-For, with limits too high to answer 429.
      rateLimitUrl: `redis://127.0.0.1:6379/${DB}`, rateLimitRps: 1_000_000, rateLimitBurst: 1_000_000, trustProxy: true,
    }), { log: silentLogger() })
  }, 30_000)
  afterAll(async () => {
    await srv?.shutdown()
    fake?.stop()
    const q = new Queue('highperf', { connection: { host: '127.0.0.1', port: 6379, db: DB } })
    await q.obliterate({ force: true }).catch(() => {})
    await q.close()
    dir?.remove()
  })

  test('no hostile request gets a 5xx, and every non-2xx is the JSON error envelope', async () => {
    const run = await fuzzServer(srv.url, srv.port, { tasks: false })
    console.log(`fuzz on BullMQ: ${run.summary}`)
    expect(run.problems).toEqual([])
  }, 120_000)
})
