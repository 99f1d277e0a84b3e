/**
 * Test support: a complete set of app dependencies in a fresh temporary directory, so a test can
 * build the app in-process with `createApp(deps)` and call `app.handle()`.
 *
 * The wiring is `buildDeps` (src/deps.ts), the same the server uses; `close()` undoes everything
 * (closes databases, stops workers, removes the directory).
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
import { testConfig, type Config } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { buildDeps, type BuildOptions } from '../../src/deps.ts'
import { catalogOf } from '../../src/routes/pool-call.ts'
import type { AppDeps } from '../../src/app.ts'

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

/**
 * Builds every dependency of the app against a temporary data directory; resolves once a pool
 * worker is up. `build` reaches `buildDeps` (e.g. `{ bus }`, a bus of `memoryHub(n)`).
 */
export async function testDeps(overrides: Partial<Config> = {}, build: BuildOptions = {}): Promise<TestDeps> {
  const { dir, remove } = tempDir()
  const config = testConfig({ dataDir: join(dir, 'data'), filesDir: join(dir, 'files'), port: 0, host: '127.0.0.1', workers: 2, ...overrides })
  const built = await buildDeps(config, silentLogger(), build)
  // Return once a worker is up (it reports the task catalogue when it is): otherwise every test
  // races the workers' start, e.g. the 80 ms deadline of GET /api/cars/:id or /readyz's pool check.
  await catalogOf(built.deps.pool, AbortSignal.timeout(10_000), 10_000)
  return {
    deps: built.deps,
    dir,
    async close() {
      await built.close()
      remove()
    },
  }
}
