/**
 * bench/tracing: what observability costs per request, measured on `handle()` in-process
 * (no sockets, so the stages' own cost is not drowned by the network stack).
 *
 * Rows, all measured in the same run: a bare Elysia app with the same route (the reference), the
 * front (src/http/front) with no stage (request id and Server header), then the front with one
 * observability stage each: tracing off (what every request pays when OTEL_EXPORTER_OTLP_ENDPOINT
 * is unset) with and without an incoming `traceparent` (only a valid one is propagated), tracing
 * on (SDK spans, batched OTLP/HTTP JSON export to a local receiver that discards), metrics, access
 * log to a file; and the whole createApp() stack with tracing off and on. "added" is over the
 * row's reference: bare Elysia for the front itself and for Elysia's own hook costs, the front
 * with no stage for everything behind the front.
 * A second table compares the metrics hot path (RequestSeries.record) with prom-client's own
 * `inc(labels)` + `observe(labels)` and `labels(...)` children.
 *
 * One sample = BATCH sequential `handle()` calls, each on a new Request (the front attaches its
 * state to the Request, as it does for real traffic), plus one event-loop turn (so anything
 * deferred, such as Elysia's `afterResponse` hooks in the reference row, is inside the measured
 * time; the stages' `after` runs before `handle` resolves). Figures are per request: the median
 * over ROUNDS rounds of mitata's p50, rounds interleaved across rows to spread the noise of this
 * loaded 2-core machine.
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
import { accessLogStage, createAccessLog } from '../../src/http/access-log/index.ts'
import { createFront, type Stage } from '../../src/http/front/index.ts'
import { metricsStage } from '../../src/http/metrics/index.ts'
import { createTracing } from '../../src/http/tracing/exporter.ts'
import { tracingStage } from '../../src/http/tracing/index.ts'
import { silentLogger } from '../../src/log.ts'
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
const log = silentLogger()
// The bare reference app behind the front, so the front's row is the front's own cost (no row
// here answers an error, so Elysia's error handler would only add its compile-time weight).
const front = (stages: Stage[]) => createFront(bare(), stages, { serverName: 'highperf/bench', log, trustProxy: false })

type Handler = { handle(req: Request): Promise<Response> }
const tracer = await createTracing({ otelEndpoint: endpoint, otelServiceName: 'bench' })
const accessLog = createAccessLog({ accessLog: join(tmp.dir, 'access.log'), logLevel: 'info' })!
// rateLimitRps 0: the limiter would otherwise (rightly) refuse a single client at this rate.
const offDeps = await testDeps({ rateLimitRps: 0 })
const onDeps = await testDeps({ rateLimitRps: 0, otelEndpoint: endpoint })

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
const withTrace = () => new Request('http://localhost/things/42', { headers: { traceparent: TRACEPARENT } })
// The same size of headers without a trace context, so both kinds cost the same to build.
const noTrace = () => new Request('http://localhost/things/42', { headers: { 'x-not-traced': TRACEPARENT } })

const BARE = 'bare Elysia (reference)'
const FRONT = 'the front, no stage (request state, request id, Server header)'
interface Row { name: string; app: Handler; request: () => Request; ref: string; trace?: boolean }
const rows: Row[] = [
  { name: BARE, app: bare(), request: withTrace, ref: BARE },
  { name: '+ an Elysia onRequest hook setting one response header (Elysia\'s own cost)', app: new Elysia().onRequest(({ set }) => { set.headers['x-a'] = 'b' }).get('/things/:id', route), request: withTrace, ref: BARE },
  { name: '+ an empty Elysia onAfterResponse hook (Elysia\'s own cost)', app: new Elysia().onAfterResponse({ as: 'global' }, () => {}).get('/things/:id', route), request: withTrace, ref: BARE },
  { name: FRONT, app: front([]), request: withTrace, ref: BARE },
  { name: '+ tracing off, incoming traceparent (propagated)', app: front([tracingStage(null)]), request: withTrace, ref: FRONT, trace: true },
  { name: '+ tracing off, no traceparent (nothing made)', app: front([tracingStage(null)]), request: noTrace, ref: FRONT },
  { name: '+ tracing on (spans, OTLP export)', app: front([tracingStage(tracer)]), request: withTrace, ref: FRONT, trace: true },
  { name: '+ metrics', app: front([metricsStage(createMetrics())]), request: withTrace, ref: FRONT },
  { name: '+ access log (file)', app: front([accessLogStage(accessLog)]), request: withTrace, ref: FRONT },
  { name: 'createApp(), tracing off, incoming traceparent', app: createApp(offDeps.deps, { routes: (e) => e.get('/things/:id', ({ params }) => ({ id: params.id })) }), request: withTrace, ref: FRONT, trace: true },
  { name: 'createApp(), tracing on', app: createApp(onDeps.deps, { routes: (e) => e.get('/things/:id', ({ params }) => ({ id: params.id })) }), request: withTrace, ref: FRONT, trace: true },
]

// Each row answers 200 and sends a traceparent exactly when it should: a row measuring a stage
// that did nothing would be a figure about nothing.
for (const r of rows) {
  const res = await r.app.handle(r.request())
  if (res.status !== 200) throw new Error(`${r.name}: status ${res.status}`)
  if (r.ref === FRONT && (res.headers.get('traceparent') !== null) !== (r.trace === true)) throw new Error(`${r.name}: traceparent ${res.headers.get('traceparent')}`)
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
const samples = new Map<string, number[]>()
for (let round = 0; round < ROUNDS; round++) {
  for (const r of rows) {
    const stats = await measure(async () => {
      for (let i = 0; i < BATCH; i++) await r.app.handle(r.request())
      await turn()
    }, { min_cpu_time: 400e6 })
    const list = samples.get(r.name) ?? []
    list.push(stats.p50 / BATCH)
    samples.set(r.name, list)
  }
}
const base = median(samples.get(BARE)!)

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
  '# bench/tracing: observability cost per request (handle, in-process)',
  '',
  `Command: \`bun bench/tracing/index.ts\` (Bun ${Bun.version}, ${ROUNDS} rounds, median of per-round p50s; ${BATCH} requests, each a new Request, + 1 event-loop turn per sample). Machine: 2 cores, shared with other work: noisy.`,
  '',
  '| variant | per request | vs bare | added | over |',
  '| --- | ---: | ---: | ---: | --- |',
  ...rows.map((r) => {
    const m = median(samples.get(r.name)!)
    const ref = median(samples.get(r.ref)!)
    return `| ${r.name} | ${f(m)} | ${(m / base).toFixed(2)}× | ${r.name === r.ref ? '—' : f(m - ref)} | ${r.name === r.ref ? '—' : r.ref === BARE ? 'bare Elysia' : 'the front'} |`
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
