/**
 * Test support for the pool: real `WorkerPool`s with the test tasks of fixtures/tasks.ts, closed
 * after the file's tests.
 *
 * @example
 * ```ts
 * const makePool = poolFactory(500)
 * const pool = makePool({ workers: 1 })
 * ```
 */
import { afterAll } from 'bun:test'
import { WorkerPool } from '../../src/pool/pool.ts'
import type { PoolOptions } from '../../src/pool/types.ts'

/** The test tasks every pool here loads besides the built-in ones. */
export const EXTRA = new URL('./fixtures/tasks.ts', import.meta.url)

/**
 * A maker of pools (2 workers, queue 1000, grace 300 ms unless `o` says otherwise); every pool it
 * made is closed, with `closeMs` of grace, after the calling file's tests. Call it at file scope.
 *
 * @example const makePool = poolFactory(200)
 */
export function poolFactory(closeMs: number): (o?: Partial<PoolOptions>) => WorkerPool {
  const pools: WorkerPool[] = []
  afterAll(async () => { await Promise.all(pools.map((p) => p.close(closeMs))) })
  return (o = {}) => {
    const p = new WorkerPool({ workers: 2, queueLimit: 1000, extraTasks: EXTRA, graceMs: 300, ...o })
    pools.push(p)
    return p
  }
}
