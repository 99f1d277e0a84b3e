/**
 * Test fixture (run as a script, not a test): a real node:cluster of two processes, each building
 * `createMetrics()` as a server process of a cluster and recording known figures, and a primary
 * that merges them with `aggregateClusterMetrics()` and prints one JSON line:
 * `{"text": "<merged exposition>", "ms": [<each timed merge>]}` or `{"error": "…", "afterMs": n}`.
 *
 * Modes (argv[2]):
 * - `join` (default): both children join the aggregation (createMetrics({ cluster })).
 * - `no-join`: child 2 builds its metrics alone-style (no AggregatorRegistry, pitfall 16), so the
 *   primary never gets its answer; the primary gives up after `timeoutMs` (argv[3], default 1500).
 * - argv[4] = N times N merges after the first, and argv[5] = R adds R more routes × 5 statuses
 *   of HTTP series to each child (a realistic registry), for bench/metrics-cluster.
 *
 * @example
 * ```ts
 * const proc = Bun.spawn([process.execPath, 'test/metrics/cluster-fixture.ts', 'join'], { stdout: 'pipe' })
 * const { text } = JSON.parse(await new Response(proc.stdout).text())
 * ```
 */
import cluster from 'node:cluster'
import { createMetrics } from '../../src/metrics/registry.ts'
import { aggregateClusterMetrics } from '../../src/metrics/cluster.ts'
import type { PoolStats } from '../../src/pool/types.ts'

const mode = process.argv[2] ?? 'join'
const timeoutMs = Number(process.argv[3] ?? 1500)
const rounds = Number(process.argv[4] ?? 0)
const extraRoutes = Number(process.argv[5] ?? 0)

/** What each child records: known, different figures per slot. */
function record(slot: number): void {
  const m = createMetrics(mode === 'no-join' && slot === 2 ? {} : { cluster: { slot } })
  // slot 1: 3 × GET /a 200 (1 ms); slot 2: 5 × GET /a 200 (20 ms) and 1 × POST /b 500.
  const n = slot === 1 ? 3 : 5
  for (let i = 0; i < n; i++) m.http.record('GET', '/a', 200, slot === 1 ? 0.001 : 0.02)
  if (slot === 2) m.http.record('POST', '/b', 500, 0.3)
  for (let r = 0; r < extraRoutes; r++) for (const status of [200, 201, 404, 422, 500]) m.http.record('GET', `/r${r}`, status, 0.003)
  for (let i = 0; i < slot; i++) m.rateLimited()
  m.shed('max_inflight')
  m.breakerState('GET /a', slot === 1 ? 'open' : 'closed')
  m.breakerRejected('GET /a')
  m.watchInflight(() => slot * 10)
  const stats: PoolStats = {
    workers: slot, alive: slot, queued: slot, running: 0, queueLimit: 100, utilization: slot === 1 ? [0.5] : [0.25, 0.75], restarts: slot,
    tasks: { echo: { ok: slot * 2, failed: 0, canceled: 0, timedOut: 0, queueWaitMs: { p50: 1, p90: 2, p99: 3 }, runMs: { p50: slot, p90: slot, p99: slot } } },
  }
  m.pool.watch(() => stats)
  // Host-wide job counts (the shared jobs.sqlite): every process reads the same.
  m.jobs.watch(() => ({ queued: 7, running: 2, succeeded: 40, failed: 1, canceled: 0 }))
}

if (cluster.isPrimary) {
  const workers = [1, 2].map((slot) => cluster.fork({ FIXTURE_SLOT: String(slot) }))
  let ready = 0
  const allReady = Promise.withResolvers<void>()
  for (const w of workers) w.on('message', (msg: unknown) => { if (msg === 'ready' && ++ready === workers.length) allReady.resolve() })
  await allReady.promise
  let out: Record<string, unknown>
  const start = performance.now()
  try {
    const text = await aggregateClusterMetrics({ timeoutMs })
    const ms: number[] = []
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now()
      await aggregateClusterMetrics({ timeoutMs })
      ms.push(performance.now() - t0)
    }
    out = { text, ms }
  } catch (err) {
    out = { error: (err as Error).message, afterMs: Math.round(performance.now() - start) }
  }
  // Awaited: process.exit() right after a large write to a pipe would cut it short.
  await Bun.write(Bun.stdout, `${JSON.stringify(out)}\n`)
  for (const w of workers) w.process.kill('SIGKILL')
  process.exit(0)
} else {
  record(Number(process.env.FIXTURE_SLOT))
  process.send?.('ready')
}
