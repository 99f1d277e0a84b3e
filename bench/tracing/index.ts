/**
 * bench/tracing: what observability costs per request, measured on `app.handle()` in-process
 * (no sockets, so the plugins' own cost is not drowned by the network stack).
 *
 * Rows, all measured in the same run against the first (a bare Elysia app with the same route):
 * tracing off (traceparent propagation only: what every request pays when OTEL_EXPORTER_OTLP_ENDPOINT
 * is unset), tracing on (SDK spans, batched OTLP/HTTP JSON export to a local receiver that discards),
 * metrics, access log to a file, and the whole createApp() stack with tracing off and on.
 * A second table compares the metrics hot path (RequestSeries.record) with prom-client's own
 * `inc(labels)` + `observe(labels)` and `labels(...)` children.
 *
 * One sample = BATCH sequential `app.handle()` calls plus one event-loop turn (after-response
 * hooks run in a setImmediate, so they are inside the measured time). Figures are per request:
 * the median over ROUNDS rounds of mitata's p50, rounds interleaved across rows to spread the
 * noise of this loaded 2-core machine.
 *
 * @example
 * ```sh
 * bun bench/tracing/index.ts            # ~1 min, writes bench/results/tracing.md
 * ROUNDS=1 bun bench/tracing/index.ts   # quick look
 * ```
 */
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { measure } from 'mitata'
import { Counter, Histogram, Registry } from 'prom-client'
import { createApp } from '../../src/app.ts'
import { accessLogPlugin, createAccessLog } from '../../src/http/access-log/index.ts'
import { metricsPlugin } from '../../src/http/metrics/index.ts'
import { createTracing } from '../../src/http/tracing/exporter.ts'
import { tracingPlugin } from '../../src/http/tracing/index.ts'
import { createMetrics } from '../../src/metrics/registry.ts'
import { DURATION_BUCKETS } from '../../src/metrics/http.ts'
import { RequestSeries } from '../../src/metrics/series.ts'
import { testDeps, tempDir } from '../../test/support/deps.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian as median } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const BATCH = 64

// A local OTLP receiver that accepts and discards, so export cost is real but the network is local.
let exported = 0
const receiver = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    await req.arrayBuffer()
    exported++
    return Response.json({})
  },
})
const endpoint = `http://127.0.0.1:${receiver.port}`
const tmp = tempDir('highperf-bench-tracing-')

const route = ({ params }: { params: { id: string } }) => ({ id: params.id })
const bare = () => new Elysia().get('/things/:id', route)

type Handler = { handle(req: Request): Promise<Response> }
const tracer = await createTracing({ otelEndpoint: endpoint, otelServiceName: 'bench' })
const accessLog = createAccessLog({ accessLog: join(tmp.dir, 'access.log'), logLevel: 'info' })!
// rateLimitRps 0: the limiter would otherwise (rightly) refuse a single client at this rate.
const offDeps = await testDeps({ rateLimitRps: 0 })
const onDeps = await testDeps({ rateLimitRps: 0, otelEndpoint: endpoint })

const rows: Array<{ name: string; app: Handler }> = [
  { name: 'bare Elysia (baseline)', app: bare() },
  { name: '+ an onRequest hook setting one response header (Elysia\'s own cost)', app: new Elysia().onRequest(({ set }) => { set.headers['x-a'] = 'b' }).get('/things/:id', route) },
  { name: '+ tracing off (traceparent only)', app: new Elysia().use(tracingPlugin(null)).get('/things/:id', route) },
  { name: '+ tracing on (spans, OTLP export)', app: new Elysia().use(tracingPlugin(tracer)).get('/things/:id', route) },
  { name: '+ an empty onAfterResponse hook (Elysia\'s own cost)', app: new Elysia().onAfterResponse({ as: 'global' }, () => {}).get('/things/:id', route) },
  { name: '+ metrics', app: new Elysia().use(metricsPlugin(createMetrics())).get('/things/:id', route) },
  { name: '+ access log (file)', app: new Elysia().use(accessLogPlugin(accessLog, false)).get('/things/:id', route) },
  { name: 'createApp(), tracing off', app: createApp(offDeps.deps).get('/things/:id', route) },
  { name: 'createApp(), tracing on', app: createApp(onDeps.deps).get('/things/:id', route) },
]

const req = new Request('http://localhost/things/42', { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })
for (const r of rows) {
  const res = await r.app.handle(req)
  if (res.status !== 200) throw new Error(`${r.name}: status ${res.status}`)
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
const samples = new Map<string, number[]>()
for (let round = 0; round < ROUNDS; round++) {
  for (const r of rows) {
    const stats = await measure(async () => {
      for (let i = 0; i < BATCH; i++) await r.app.handle(req)
      await turn()
    }, { min_cpu_time: 400e6 })
    const list = samples.get(r.name) ?? []
    list.push(stats.p50 / BATCH)
    samples.set(r.name, list)
  }
}
const base = median(samples.get(rows[0]!.name)!)

// Metrics hot path alone: the accumulator against prom-client per-request calls.
const series = new RequestSeries(DURATION_BUCKETS)
const reg = new Registry()
const counter = new Counter({ name: 'c_total', help: 'c', labelNames: ['method', 'route', 'status'], registers: [reg] })
const histogram = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['method', 'route', 'status'], buckets: [...DURATION_BUCKETS], registers: [reg] })
const micro: Array<{ name: string; fn: () => void }> = [
  { name: 'RequestSeries.record (this project)', fn: () => series.record('GET', '/things/:id', 200, 0.0012) },
  { name: 'prom-client inc(labels) + observe(labels)', fn: () => { const l = { method: 'GET', route: '/things/:id', status: '200' }; counter.inc(l); histogram.observe(l, 0.0012) } },
  { name: 'prom-client labels(...).inc() + labels(...).observe()', fn: () => { counter.labels('GET', '/things/:id', '200').inc(); histogram.labels('GET', '/things/:id', '200').observe(0.0012) } },
]
const microRows: Array<{ name: string; ns: number; heap?: number }> = []
for (const m of micro) {
  const s = await measure(m.fn, { min_cpu_time: 300e6 })
  microRows.push({ name: m.name, ns: s.p50 })
}

await tracer?.shutdown()
await accessLog.close()
await offDeps.close()
await onDeps.close()
receiver.stop(true)
tmp.remove()

const f = (ns: number) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`)
const lines = [
  '# bench/tracing: observability cost per request (app.handle, in-process)',
  '',
  `Command: \`bun bench/tracing/index.ts\` (Bun ${Bun.version}, ${ROUNDS} rounds, median of per-round p50s; ${BATCH} requests + 1 event-loop turn per sample). Machine: 2 cores, shared with other work: noisy.`,
  '',
  '| variant | per request | vs bare | added |',
  '| --- | ---: | ---: | ---: |',
  ...rows.map((r) => {
    const m = median(samples.get(r.name)!)
    return `| ${r.name} | ${f(m)} | ${(m / base).toFixed(2)}× | ${r === rows[0] ? '—' : f(m - base)} |`
  }),
  '',
  `OTLP export batches received during the run: ${exported}.`,
  '',
  '| metrics hot path (one request) | p50 | vs RequestSeries |',
  '| --- | ---: | ---: |',
  ...microRows.map((r) => `| ${r.name} | ${f(r.ns)} | ${(r.ns / microRows[0]!.ns).toFixed(1)}× |`),
  '',
]
const table = lines.join('\n')
writeResult('tracing', table)
process.exit(0)
