// POST /tasks/:name?priority= over a real server: validated (422 naming /priority), then handed to the pool.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startServer, type RunningServer } from '../../src/server.ts'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import type { RunOptions } from '../../src/pool/types.ts'
import { tempDir } from '../support/deps.ts'

let srv: RunningServer
let dir: { dir: string; remove(): void }
const seen: RunOptions[] = []

beforeAll(async () => {
  dir = tempDir()
  srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', workers: 1, dataDir: dir.dir, rateLimitRps: 0 }), { log: silentLogger() })
  // A spy on the real pool: the route holds this object, so its calls pass through here.
  const pool = srv.deps.pool
  const run = pool.run.bind(pool)
  pool.run = (task, input, options) => {
    if (options) seen.push(options)
    return run(task, input, options)
  }
})
afterAll(async () => {
  await srv.shutdown()
  dir.remove()
})

const post = (query: string) => fetch(`${srv.url}tasks/primes${query}`, { method: 'POST', body: '{"n":100}', signal: AbortSignal.timeout(10_000) })

test('?priority= reaches the pool as a number, and the task still answers', async () => {
  for (const [q, want] of [['?priority=7', 7], ['?priority=-1000', -1000], ['?priority=1000&timeoutMs=5000', 1000], ['', undefined]] as const) {
    seen.length = 0
    const res = await post(q)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ n: 100, count: 25 })
    expect(seen.at(-1)?.priority).toBe(want)
  }
})

test('a priority outside -1000..1000 or not plainly written is a 422 naming /priority, and never reaches the pool', async () => {
  for (const bad of ['1001', '-1001', '1.5', '1e3', '0x10', '+1', '01', '-0', 'high', '']) {
    seen.length = 0
    const res = await post(`?priority=${encodeURIComponent(bad)}`)
    expect(res.status).toBe(422)
    const body = (await res.json()) as { error: { code: string; details?: Array<{ path: string }> } }
    expect(body.error.code).toBe('validation_failed')
    expect(JSON.stringify(body.error.details)).toContain('/priority')
    expect(seen).toEqual([])
  }
})
