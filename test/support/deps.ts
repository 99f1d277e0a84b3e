/**
 * Test support: a complete set of app dependencies in a fresh temporary directory, so a test can
 * build the app in-process with `createApp(deps)` and call `app.handle()`.
 *
 * Each part of the server adds its dependency here when it adds it to `AppDeps`; `close()` undoes
 * everything (closes databases, stops workers, removes the directory).
 *
 * @example
 * ```ts
 * const t = await testDeps()
 * const app = createApp(t.deps)
 * afterAll(() => t.close())
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AppDeps } from '../../src/app.ts'
import { testConfig, type Config } from '../../src/config.ts'
import { Lifecycle } from '../../src/lifecycle.ts'
import { silentLogger } from '../../src/log.ts'
import { createMetrics } from '../../src/metrics/registry.ts'
import { createAccessLog } from '../../src/http/access-log/index.ts'
import { createTracing } from '../../src/http/tracing/exporter.ts'
import { UserStore } from '../../src/store/users.ts'
import { WorkerPool } from '../../src/pool/pool.ts'
import { openJobs } from '../../src/jobs/index.ts'
import { LlmClient } from '../../src/llm/client.ts'
import { MessageStore } from '../../src/store/messages.ts'

/** A full dependency set and its cleanup. */
export interface TestDeps {
  deps: AppDeps
  dir: string
  close(): Promise<void>
}

/** Makes a temporary directory that is removed by the returned function. */
export function tempDir(prefix = 'highperf-test-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Builds every dependency of the app against a temporary data directory. */
export async function testDeps(overrides: Partial<Config> = {}): Promise<TestDeps> {
  const { dir, remove } = tempDir()
  const config = testConfig({ dataDir: join(dir, 'data'), filesDir: join(dir, 'files'), port: 0, host: '127.0.0.1', workers: 2, ...overrides })
  const closers: Array<() => Promise<void> | void> = []
  // A fresh registry per call: tests never share metrics.
  const metrics = createMetrics()
  const accessLog = createAccessLog(config)
  if (accessLog) closers.push(() => accessLog.close())
  const tracing = await createTracing(config)
  if (tracing) closers.push(() => tracing.shutdown())
  const users = UserStore.open(join(config.dataDir, 'users.sqlite'))
  closers.push(() => users.close())
  const pool = new WorkerPool({ workers: config.workers, queueLimit: config.queueLimit })
  closers.push(() => pool.close(2000))
  const lifecycle = new Lifecycle()
  lifecycle.addCheck('pool', () => pool.alive > 0)
  const jobs = openJobs(config, pool, silentLogger())
  await jobs.start()
  lifecycle.onDrain(() => jobs.drain(config.shutdownTimeout))
  closers.push(() => jobs.close())
  const messages = MessageStore.open(join(config.dataDir, 'messages.sqlite'))
  closers.push(() => messages.close())
  // Not configured unless the test passes llmBaseUrl (e.g. a fake upstream's url).
  const llm = LlmClient.fromConfig(config)
  closers.push(() => llm.close())
  const deps: AppDeps = { config, log: silentLogger(), lifecycle, metrics, tracing, accessLog, users, pool, jobs, llm, messages }
  // Pool and job metrics are read from these at scrape time (nothing per request or task).
  metrics.pool.watch(() => pool.stats())
  metrics.jobs.watch(() => jobs.counts())
  return {
    deps,
    dir,
    async close() {
      for (const c of closers.reverse()) await c()
      remove()
    },
  }
}
