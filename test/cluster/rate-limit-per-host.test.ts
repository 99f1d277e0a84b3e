/**
 * Issue #13 §5 end to end on a real cluster (`PROCESSES=2`, the primary's shared-memory table): a
 * client's allowance is the configured one whichever processes its connections land on. With
 * `RATE_LIMIT_BURST=4 RATE_LIMIT_RPS=1`, 20 requests answer 200 four times (plus at most one per
 * second elapsed, the refill), whether they come on new connections the kernel spreads over both
 * processes or on keep-alive connections pinned to each process in turn.
 *
 * Each part is its own client: another loopback source address (127.0.0.2) is another bucket.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { freePort } from '../support/process.ts'
import { rawRequest } from '../support/raw-http.ts'
import { baseEnv, spawnCluster, tempDir, type SpawnedCluster } from './support.ts'
import { pinConnections } from './pinned.ts'

const BURST = 4
let cluster: SpawnedCluster
let tmp: ReturnType<typeof tempDir>
let port: number
let pids: number[]

beforeAll(async () => {
  tmp = tempDir()
  port = freePort()
  cluster = spawnCluster([process.execPath, 'run', 'src/main.ts'], { ...baseEnv(port, tmp.dir), ACCESS_LOG: 'stdout', RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: String(BURST) })
  await cluster.waitFor((l) => l.msg === 'all 2 server processes ready', 30_000)
  pids = [...cluster.readyPids().values()]
}, 60_000)

afterAll(async () => {
  await cluster?.stop()
  tmp?.remove()
})

/** The refill the client may have earned while sending: one token per started second. */
function refill(ms: number): number {
  return Math.ceil(ms / 1000) - 1
}

test('20 requests on new connections spread over both processes: the burst, not twice it', async () => {
  const t0 = performance.now()
  const answers = await Promise.all(Array.from({ length: 20 }, () =>
    rawRequest(port, 'GET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', { timeoutMs: 10_000 })))
  const took = performance.now() - t0
  const ok = answers.filter((r) => r.status === 200).length
  expect(answers.filter((r) => r.status !== 200).every((r) => r.status === 429)).toBe(true)
  expect(ok).toBeGreaterThanOrEqual(BURST)
  expect(ok).toBeLessThanOrEqual(BURST + refill(took))
  // Both processes answered some of them (and limited some: the table is the host's).
  const byPid = new Map<number, number[]>()
  for (const r of answers) {
    const line = await cluster.waitFor((l) => l.msg === 'request' && l.requestId === r.headers['x-request-id'], 5000)
    byPid.set(line.pid as number, [...(byPid.get(line.pid as number) ?? []), r.status])
  }
  expect([...byPid.keys()].sort()).toEqual([...pids].sort())
  console.log(`rate limit, new connections: ${ok} of 20 allowed in ${took.toFixed(0)} ms; per process: ${[...byPid.values()].map((s) => `${s.filter((x) => x === 200).length}/${s.length}`).join(', ')}`)
}, 30_000)

test('20 requests alternating over keep-alive connections pinned to each process: the burst, shared', async () => {
  const pinned = await pinConnections(port, cluster, pids, { localAddress: '127.0.0.2' })
  try {
    const order = [...pinned.values()]
    const statuses: Array<{ pid: number; status: number }> = []
    const t0 = performance.now()
    for (let i = 0; i < 20; i++) {
      const c = order[i % order.length]!
      statuses.push({ pid: c.pid, status: (await c.request('GET', '/tasks')).status })
    }
    const took = performance.now() - t0
    const ok = statuses.filter((s) => s.status === 200)
    expect(statuses.filter((s) => s.status !== 200).every((s) => s.status === 429)).toBe(true)
    expect(ok.length).toBeGreaterThanOrEqual(BURST)
    expect(ok.length).toBeLessThanOrEqual(BURST + refill(took))
    // The first four alternate: each process allowed two, then both refuse.
    expect(statuses.slice(0, BURST).map((s) => s.status)).toEqual([200, 200, 200, 200])
    expect(new Set(ok.slice(0, BURST).map((s) => s.pid)).size).toBe(2)
    console.log(`rate limit, pinned keep-alive: ${ok.length} of 20 allowed in ${took.toFixed(0)} ms`)
  } finally {
    for (const c of pinned.values()) c.close()
  }
}, 30_000)
