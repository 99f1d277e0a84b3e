/**
 * Issue 11, item 3: every input a client controls ends in a 4xx with the JSON envelope (the
 * default backends: bun:sqlite for users, messages and jobs; the other backends run the same
 * probes in openapi-postgres, openapi-bullmq and openapi-cluster.test.ts).
 *
 * A real server (with a fake LLM upstream, so `/messages` does real work) is asked for its
 * `/swagger/json`; every operation in it, and every task schema of `GET /tasks`, is sent hostile
 * variants built from its own schemas (test/fuzz/hostile.ts): wrong types, extremes (1e400, 2^63,
 * one past each bound, 70 000-character strings), nesting just past and far past the depth limit,
 * prototype keys, missing and unknown fields, invalid UTF-8 in body, path and query (percent-
 * encoded, and as raw bytes over a socket), duplicated and bracketed query parameters, hostile
 * headers, wrong and missing content types, empty and `null` bodies.
 *
 * Fails on any 5xx except the two a valid request can earn by design, both documented: 504
 * `task_timeout`/`deadline_exceeded` (the client's own `timeoutMs` passed) and 503 with
 * `Retry-After` (`queue_full`/`overloaded`: capacity, not input). Every other non-2xx must be the
 * envelope `{"error":{"code","message","requestId"}}` as application/json.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type RunningServer } from '../../src/server.ts'
import { silentLogger } from '../../src/log.ts'
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts'
import { tempDir } from '../support/deps.ts'
import { fuzzConfig, fuzzServer } from './run.ts'

describe('fuzz: every OpenAPI operation and every task schema', () => {
  let srv: RunningServer
  let fake: FakeLlm
  let dir: { dir: string; remove(): void }

  beforeAll(async () => {
    dir = tempDir('highperf-fuzz-')
    fake = startFakeLlm()
    srv = await startServer(fuzzConfig(dir.dir, fake.url), { log: silentLogger() })
  })
  afterAll(async () => {
    await srv.shutdown()
    fake.stop()
    dir.remove()
  })

  test('no hostile request gets a 5xx, and every non-2xx is the JSON error envelope', async () => {
    const run = await fuzzServer(srv.url, srv.port)
    console.log(`fuzz: ${run.summary}`)
    expect(run.problems).toEqual([])
    // The server runs in this process: `__proto__` and `constructor` keys polluted nothing here.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  }, 120_000)
})
