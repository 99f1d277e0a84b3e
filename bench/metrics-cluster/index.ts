/**
 * bench/metrics-cluster: what one merged scrape costs with `PROCESSES=2` (the primary's
 * `aggregateClusterMetrics()`: a request over node:cluster IPC to each server process, their
 * registries as JSON back, prom-client's merge and the text), and what joining the aggregation
 * costs a server process (loading prom-client's cluster module and node:cluster, constructing the
 * `AggregatorRegistry`).
 *
 * The merge runs in test/metrics/cluster-fixture.ts (a primary and two children); "routes" adds
 * that many route templates × 5 statuses of HTTP series to each child (a histogram of 17 lines
 * each), on top of the default and pool metrics.
 *
 * @example
 * ```sh
 * bun bench/metrics-cluster/index.ts            # ~15 s
 * ROUNDS=10 bun bench/metrics-cluster/index.ts  # quick look
 * ```
 */
import { median } from '../lib/stats.ts'
import { writeResult } from '../lib/report.ts'
import { createMetrics } from '../../src/metrics/registry.ts'

const ROOT = `${import.meta.dir}/../..`
const ROUNDS = Number(process.env.ROUNDS ?? 50)
const LOADS = Number(process.env.LOADS ?? 7)

async function merge(routes: number): Promise<{ ms: number; bytes: number }> {
  const proc = Bun.spawn([process.execPath, 'test/metrics/cluster-fixture.ts', 'join', '10000', String(ROUNDS), String(routes)], { cwd: ROOT, stdout: 'pipe' })
  const out = JSON.parse(await new Response(proc.stdout).text()) as { text: string; ms: number[] }
  await proc.exited
  return { ms: median(out.ms), bytes: out.text.length }
}

// One fresh process per sample: RSS and time of joinCluster() after everything else is loaded.
const JOIN = `
  const { createMetrics } = await import('./src/metrics/registry.ts')
  const { joinCluster } = await import('./src/metrics/cluster.ts')
  const m = createMetrics()
  await m.render()
  Bun.gc(true)
  const before = process.memoryUsage.rss()
  const t0 = performance.now()
  joinCluster(m.registry)
  const ms = performance.now() - t0
  Bun.gc(true)
  console.log(JSON.stringify({ ms, kb: (process.memoryUsage.rss() - before) / 1024 }))`

async function join(): Promise<{ ms: number; kb: number }> {
  const proc = Bun.spawn([process.execPath, '-e', JOIN], { cwd: ROOT, stdout: 'pipe' })
  const out = JSON.parse(await new Response(proc.stdout).text()) as { ms: number; kb: number }
  await proc.exited
  return out
}

const lines: string[] = [`## bench/metrics-cluster: one merged scrape of 2 processes (${new Date().toISOString().slice(0, 16)}Z)`, '']
lines.push(`| merged scrape, 2 processes | text | median ms (${ROUNDS} merges) |`)
lines.push('| --- | ---: | ---: |')
for (const routes of [0, 50]) {
  const r = await merge(routes)
  lines.push(`| defaults + pool + ${routes === 0 ? '2 routes' : `${routes} routes × 5 statuses`} per process | ${(r.bytes / 1024).toFixed(0)} KB | ${r.ms.toFixed(2)} |`)
}
// For scale: one process alone rendering the same registry (no IPC, no merge).
for (const routes of [0, 50]) {
  const m = createMetrics()
  for (let i = 0; i < 3; i++) m.http.record('GET', '/a', 200, 0.001)
  for (let r = 0; r < routes; r++) for (const status of [200, 201, 404, 422, 500]) m.http.record('GET', `/r${r}`, status, 0.003)
  const ms: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now()
    await m.render()
    ms.push(performance.now() - t0)
  }
  lines.push(`| for scale: one process alone, render(), ${routes === 0 ? '1 route' : `${routes} routes × 5 statuses`} | | ${median(ms).toFixed(2)} |`)
}
const joins: Array<{ ms: number; kb: number }> = []
for (let i = 0; i < LOADS; i++) joins.push(await join())
lines.push('')
lines.push(`| joinCluster() in a server process (${LOADS} fresh processes) | median |`)
lines.push('| --- | ---: |')
lines.push(`| time (loads prom-client/lib/cluster, node:cluster) | ${median(joins.map((j) => j.ms)).toFixed(2)} ms |`)
lines.push(`| RSS after - before | ${median(joins.map((j) => j.kb)).toFixed(0)} KB |`)
writeResult('metrics-cluster', `${lines.join('\n')}\n`)
