/**
 * `new WorkerPool({ start: false })`: no worker thread exists until `start()`, tasks queue
 * meanwhile and run once it is called; `start()` twice spawns once; a pool closed before it ever
 * started closes cleanly. `startServer` relies on this to spawn workers only after it listens.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { WorkerPool } from '../../src/pool/pool.ts'

const pools: WorkerPool[] = []
afterAll(async () => { await Promise.all(pools.map((p) => p.close(500))) })

function makePool(workers: number): WorkerPool {
  const p = new WorkerPool({ workers, queueLimit: 1000, start: false })
  pools.push(p)
  return p
}

const dec = new TextDecoder()

describe('WorkerPool with start: false', () => {
  test('spawns no worker until start(); queued tasks then run', async () => {
    const pool = makePool(2)
    const queued = Array.from({ length: 20 }, (_, i) => pool.run('echo', JSON.stringify({ i })))
    await Bun.sleep(300)
    expect(pool.alive).toBe(0)
    expect(pool.catalog()).toEqual([])
    pool.start()
    const out = await Promise.all(queued)
    expect(out.map((b) => JSON.parse(dec.decode(b)))).toEqual(Array.from({ length: 20 }, (_, i) => ({ i })))
    expect(pool.alive).toBeGreaterThan(0)
  })

  test('start() twice spawns the workers once', async () => {
    const pool = makePool(1)
    pool.start()
    pool.start()
    await pool.run('echo', '{}')
    await Bun.sleep(100)
    expect(pool.alive).toBe(1)
    expect(pool.stats().restarts).toBe(0)
  })

  test('closing a pool that never started settles its queued tasks with pool_closed', async () => {
    const pool = makePool(1)
    const queued = pool.run('echo', '{}')
    await pool.close(50)
    const err = await queued.then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('pool_closed')
    pool.start() // after close: a no-op, no worker appears
    await Bun.sleep(100)
    expect(pool.alive).toBe(0)
  })
})
