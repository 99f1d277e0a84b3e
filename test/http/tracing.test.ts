import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app.ts'
import { formatTraceparent, newSpanId, parseTraceparent } from '../../src/http/tracing/traceparent.ts'
import { tracesUrl } from '../../src/http/tracing/exporter.ts'
import { tracingStage } from '../../src/http/tracing/index.ts'
import { stackApp } from '../support/front.ts'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { startServer } from '../../src/server.ts'
import { tempDir, testDeps, type TestDeps } from '../support/deps.ts'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const VALID = `00-${TRACE}-${PARENT}-01`

describe('parseTraceparent', () => {
  test('accepts a valid header', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, parentId: PARENT, flags: 1 })
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.flags).toBe(0)
    // A future version may append fields after a dash.
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-01-extra`)?.traceId).toBe(TRACE)
  })

  test('rejects every malformed variant', () => {
    const bad = [
      null, undefined, '', 'garbage',
      `00-${TRACE.toUpperCase()}-${PARENT}-01`, // upper-case hex
      `00-${'0'.repeat(32)}-${PARENT}-01`, // all-zero trace id
      `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero parent id
      `ff-${TRACE}-${PARENT}-01`, // forbidden version
      `00-${TRACE}-${PARENT}-01-extra`, // version 00 has exactly four fields
      `00-${TRACE.slice(1)}-${PARENT}-01`, // short trace id
      `00-${TRACE}-${PARENT}-1`, // short flags
      `00-${TRACE}-${PARENT}-0g`, // not hex
      ` ${VALID}`, // whitespace
      `00_${TRACE}_${PARENT}_01`,
    ]
    for (const h of bad) expect(parseTraceparent(h)).toBeUndefined()
  })

  test('generated span ids are the right size, hex, non-zero and distinct', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 5000; i++) {
      const s = newSpanId()
      expect(s).toMatch(/^[0-9a-f]{16}$/)
      expect(s).not.toBe('0'.repeat(16))
      seen.add(s)
    }
    expect(seen.size).toBe(5000)
    expect(parseTraceparent(formatTraceparent('4bf92f3577b34da6a3ce929d0e0e4736', newSpanId(), 1))).toBeDefined()
  })

  test('the traces URL appends /v1/traces to the endpoint base', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces')
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces')
    expect(tracesUrl('http://collector:4318/v1/traces')).toBe('http://collector:4318/v1/traces')
  })
})

describe('tracing off (no OTEL endpoint)', () => {
  let t: TestDeps
  let app: ReturnType<typeof createApp>
  beforeAll(async () => {
    t = await testDeps()
    app = createApp(t.deps)
  })
  afterAll(() => t.close())

  test('nothing is loaded and the stage has no after step', () => {
    expect(t.deps.tracing).toBeNull()
    const stage = tracingStage(null)
    expect(stage.name).toBe('tracing')
    expect(stage.before).toBeFunction()
    expect(stage.after).toBeUndefined()
  })

  test('a valid incoming traceparent is continued with a new span id and its flags', async () => {
    const res = await app.handle(new Request('http://localhost/healthz', { headers: { traceparent: VALID } }))
    const out = parseTraceparent(res.headers.get('traceparent'))!
    expect(out.traceId).toBe(TRACE)
    expect(out.parentId).not.toBe(PARENT)
    expect(out.flags).toBe(1)
  })

  test('an unsampled incoming traceparent keeps its flags', async () => {
    const res = await app.handle(new Request('http://localhost/healthz', { headers: { traceparent: `00-${TRACE}-${PARENT}-00` } }))
    const out = parseTraceparent(res.headers.get('traceparent'))!
    expect(out.traceId).toBe(TRACE)
    expect(out.parentId).not.toBe(PARENT)
    expect(out.flags).toBe(0)
  })

  test('a request without traceparent starts no trace: no traceparent on the response', async () => {
    const res = await app.handle(new Request('http://localhost/healthz'))
    expect(res.status).toBe(200)
    expect(res.headers.get('traceparent')).toBeNull()
  })

  test('an invalid incoming traceparent is dropped: no traceparent on the response', async () => {
    const bad = ['nonsense', `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE.toUpperCase()}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01-extra`]
    for (const h of bad) {
      const res = await app.handle(new Request('http://localhost/healthz', { headers: { traceparent: h } }))
      expect(res.status).toBe(200)
      expect(res.headers.get('traceparent')).toBeNull()
    }
  })

  test('error answers and refusals propagate a valid traceparent too, and send none without one', async () => {
    const res = await app.handle(new Request('http://localhost/no/such/route', { headers: { traceparent: VALID } }))
    expect(res.status).toBe(404)
    expect(parseTraceparent(res.headers.get('traceparent'))?.traceId).toBe(TRACE)
    const bare = await app.handle(new Request('http://localhost/no/such/route'))
    expect(bare.status).toBe(404)
    expect(bare.headers.get('traceparent')).toBeNull()
  })

  test('the stage on its own: trace id on the request state only when a valid context came in', async () => {
    const seen: string[] = []
    // A later stage reads what the tracing stage left on the state (the access log does the same).
    const app = stackApp([tracingStage(null), { name: 'probe', before(state) { seen.push(state.traceId) } }], (e) => e.get('/x', () => 'ok'))
    const a = await app.handle(new Request('http://localhost/x', { headers: { traceparent: VALID } }))
    const b = await app.handle(new Request('http://localhost/x'))
    const c = await app.handle(new Request('http://localhost/x', { headers: { traceparent: 'nonsense' } }))
    expect(seen).toEqual([TRACE, '', ''])
    expect(parseTraceparent(a.headers.get('traceparent'))?.traceId).toBe(TRACE)
    expect(b.headers.get('traceparent')).toBeNull()
    expect(c.headers.get('traceparent')).toBeNull()
  })
})

interface OtlpAttr { key: string; value: { stringValue?: string; intValue?: string | number } }
interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: OtlpAttr[]; status?: { code?: number } }
interface OtlpBody { resourceSpans: Array<{ resource: { attributes: OtlpAttr[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> }

const attr = (span: OtlpSpan, key: string): string | number | undefined => {
  const v = span.attributes.find((a) => a.key === key)?.value
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue))
}

describe('tracing on: OTLP/HTTP export to a local receiver', () => {
  const bodies: OtlpBody[] = []
  const contentTypes: string[] = []
  let receiver: ReturnType<typeof Bun.serve>
  let t: TestDeps
  let app: ReturnType<typeof build>
  const build = (deps: TestDeps['deps']) => createApp(deps, {
    routes: (e) => e
      .get('/things/:id', ({ params }) => ({ id: params.id }))
      .get('/explode', () => { throw new Error('boom') }),
  })
  const spans = (): OtlpSpan[] => bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))

  beforeAll(async () => {
    receiver = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(req) {
        if (req.method !== 'POST' || new URL(req.url).pathname !== '/v1/traces') return new Response('no', { status: 404 })
        contentTypes.push(req.headers.get('content-type') ?? '')
        bodies.push((await req.json()) as OtlpBody)
        return Response.json({})
      },
    })
    t = await testDeps({ otelEndpoint: `http://127.0.0.1:${receiver.port}`, otelServiceName: 'highperf-test' })
    app = build(t.deps)
  })
  afterAll(async () => {
    await t.close()
    receiver.stop(true)
  })

  test('one server span per request, child of the incoming traceparent, with route attributes', async () => {
    const res = await app.handle(new Request('http://localhost/things/42?x=1', { headers: { traceparent: VALID } }))
    expect(res.status).toBe(200)
    const out = parseTraceparent(res.headers.get('traceparent'))!
    expect(out.traceId).toBe(TRACE)
    expect(out.flags).toBe(1)
    await Bun.sleep(20) // the export is asynchronous
    await t.deps.tracing!.flush()
    const span = spans().find((s) => s.spanId === out.parentId)!
    expect(span).toBeDefined()
    expect(span.traceId).toBe(TRACE)
    expect(span.parentSpanId).toBe(PARENT)
    expect(span.name).toBe('GET /things/:id')
    expect(span.kind).toBe(2) // SERVER
    expect(attr(span, 'http.request.method')).toBe('GET')
    expect(attr(span, 'http.route')).toBe('/things/:id')
    expect(attr(span, 'url.path')).toBe('/things/42')
    expect(attr(span, 'http.response.status_code')).toBe(200)
    expect(contentTypes[0]).toContain('application/json')
    const service = bodies[0]!.resourceSpans[0]!.resource.attributes.find((a) => a.key === 'service.name')
    expect(service?.value.stringValue).toBe('highperf-test')
  })

  test('a request without traceparent gets a root span; a 5xx marks the span as an error', async () => {
    const res = await app.handle(new Request('http://localhost/explode'))
    expect(res.status).toBe(500)
    const out = parseTraceparent(res.headers.get('traceparent'))!
    await Bun.sleep(20)
    await t.deps.tracing!.flush()
    const span = spans().find((s) => s.spanId === out.parentId)!
    expect(span.traceId).toBe(out.traceId)
    expect(span.parentSpanId ?? '').toBe('')
    expect(attr(span, 'http.response.status_code')).toBe(500)
    expect(span.status?.code).toBe(2) // ERROR
  })

  test('an unmatched route is named by its method only, without http.route', async () => {
    const res = await app.handle(new Request('http://localhost/nowhere'))
    const out = parseTraceparent(res.headers.get('traceparent'))!
    await Bun.sleep(20)
    await t.deps.tracing!.flush()
    const span = spans().find((s) => s.spanId === out.parentId)!
    expect(span.name).toBe('GET')
    expect(attr(span, 'http.route')).toBeUndefined()
    expect(attr(span, 'http.response.status_code')).toBe(404)
  })

  test('an unsampled parent (flags 00) is propagated and not exported', async () => {
    const before = spans().length
    const res = await app.handle(new Request('http://localhost/things/1', { headers: { traceparent: `00-${TRACE}-${PARENT}-00` } }))
    const out = parseTraceparent(res.headers.get('traceparent'))!
    expect(out.traceId).toBe(TRACE)
    expect(out.flags).toBe(0)
    await Bun.sleep(20)
    await t.deps.tracing!.flush()
    expect(spans().find((s) => s.spanId === out.parentId)).toBeUndefined()
    expect(spans().length).toBe(before)
  })

  test('many concurrent requests: every span is exported exactly once after shutdown flush', async () => {
    const n = 300
    const ids = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const res = await app.handle(new Request(`http://localhost/things/${i}`))
      return parseTraceparent(res.headers.get('traceparent'))!.parentId
    }))
    await Bun.sleep(50)
    await t.deps.tracing!.shutdown() // what startServer's closer does
    const exported = new Map<string, number>()
    for (const s of spans()) exported.set(s.spanId, (exported.get(s.spanId) ?? 0) + 1)
    for (const id of ids) expect(exported.get(id)).toBe(1)
  })
})

describe('tracing on a real server', () => {
  test('spans still queued at shutdown are flushed by the server closer', async () => {
    const received: OtlpSpan[] = []
    const receiver = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(req) {
        const body = (await req.json()) as OtlpBody
        for (const r of body.resourceSpans) for (const ss of r.scopeSpans) received.push(...ss.spans)
        return Response.json({})
      },
    })
    const tmp = tempDir()
    try {
      const srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1, otelEndpoint: `http://127.0.0.1:${receiver.port}` }))
      const res = await fetch(`${srv.url}healthz`, { headers: { traceparent: VALID } })
      const out = parseTraceparent(res.headers.get('traceparent'))!
      await Bun.sleep(20)
      expect(received).toHaveLength(0) // batched: nothing sent yet (the batch delay is seconds)
      await srv.shutdown()
      const span = received.find((s) => s.spanId === out.parentId)!
      expect(span.name).toBe('GET /healthz')
      expect(span.parentSpanId).toBe(PARENT)
    } finally {
      receiver.stop(true)
      tmp.remove()
    }
  })
})
