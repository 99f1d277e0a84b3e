/**
 * The fuzz run of openapi.test.ts (test/fuzz/run.ts) through a `PROCESSES=2` cluster (the real
 * primary, `bun run src/main.ts`): the answers a cluster adds (gathered /pool, merged /metrics,
 * /status/json from the host, jobs in the shared jobs.sqlite with leases) under hostile input, on
 * whichever process each connection lands, with the shared rate-limit table keyed by the
 * probes' hostile X-Forwarded-For (TRUST_PROXY, limits too high to answer 429). Task schemas are pool work, the same on every backend: left to openapi.test.ts. Afterwards both
 * server processes are still the ones that started (nothing crashed).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.ts'
import { freePort } from '../support/process.ts'
import { baseEnv, spawnCluster, tempDir, type SpawnedCluster } from '../cluster/support.ts'
import { fuzzServer } from './run.ts'

describe('fuzz through a PROCESSES=2 cluster', () => {
  let cluster: SpawnedCluster
  let fake: FakeLlm
  let dir: { dir: string; remove(): void }
  let port: number

  beforeAll(async () => {
    dir = tempDir()
    fake = startFakeLlm()
    port = freePort()
    cluster = spawnCluster([process.execPath, 'run', 'src/main.ts'], {
      ...baseEnv(port, join(dir.dir, 'data')), FILES_DIR: join(dir.dir, 'files'), TASK_TIMEOUT: '2s', JOB_CONCURRENCY: '1',
      LLM_BASE_URL: fake.url, LLM_API_KEY: 'sk-fuzz',
      // The host's shared rate-limit table sees every hostile X-Forwarded-For as a key, never a 429.
      RATE_LIMIT_RPS: '1000000', RATE_LIMIT_BURST: '1000000', TRUST_PROXY: 'true',
    })
    await cluster.waitFor((l) => l.msg === 'all 2 server processes ready', 30_000)
  }, 40_000)
  afterAll(async () => {
    await cluster?.stop()
    fake?.stop()
    dir?.remove()
  })

  test('no hostile request gets a 5xx, every non-2xx is the envelope, and no server process died', async () => {
    const pids = [...cluster.readyPids().values()]
    const run = await fuzzServer(`http://127.0.0.1:${port}/`, port, { tasks: false })
    console.log(`fuzz through PROCESSES=2: ${run.summary}`)
    expect(run.problems).toEqual([])
    expect([...cluster.readyPids().values()]).toEqual(pids)
  }, 120_000)
})
