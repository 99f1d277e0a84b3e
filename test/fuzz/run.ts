/**
 * The fuzz run itself, shared by every backend's fuzz test (test/fuzz/openapi*.test.ts): reads a
 * running server's `/swagger/json` and `GET /tasks`, builds hostile probes of every operation and
 * task schema from their own schemas (test/fuzz/hostile.ts), sends them (8 at a time, then the
 * raw-socket ones) and judges every answer.
 *
 * An answer is a problem when it is a 5xx other than the two a valid request can earn by design,
 * both documented: 504 `task_timeout`/`deadline_exceeded` (the client's own `timeoutMs` passed) and
 * 503 with `Retry-After` (`queue_full`/`overloaded`: capacity, not input); or when a non-2xx is
 * not the envelope `{"error":{"code","message","requestId"}}` served as application/json.
 *
 * @example
 * ```ts
 * const run = await fuzzServer(srv.url, srv.port)
 * expect(run.problems).toEqual([])
 * ```
 */
import { join } from 'node:path'
import { testConfig, type Config } from '../../src/config.ts'
import { jsonDepthExceeds } from '../../src/json/depth.ts'
import { rawRequest } from '../support/raw-http.ts'
import { PARAM_VALUES, bodyVariants, sampleOf, short, type JsonSchema } from './hostile.ts'

interface Parameter { name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: JsonSchema }
interface Operation { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: JsonSchema }> } }
type Doc = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, unknown> } }

/**
 * `value` with every `{"$ref": "#/components/schemas/X"}` replaced by the schema it names: the
 * named schemas (NewUser, NewMessage, …) are where the properties are, and a generator that saw
 * only `$ref` would send nothing but whole-body mutations.
 */
function deref(value: unknown, schemas: Record<string, unknown>, seen: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(value)) return value.map((v) => deref(v, schemas, seen))
  if (value === null || typeof value !== 'object') return value
  const ref = (value as { $ref?: unknown }).$ref
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) {
    const name = ref.slice('#/components/schemas/'.length)
    return seen.has(name) ? {} : deref(schemas[name] ?? {}, schemas, new Set([...seen, name]))
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deref(v, schemas, seen)]))
}

/** One request to send. */
interface Probe {
  label: string
  method: string
  /** Path and query, as they go on the wire (already percent-encoded where meant to be). */
  target: string
  headers?: Record<string, string>
  body?: string | Uint8Array
}

interface Outcome { probe: Probe; status: number; problem: string | null }

/**
 * The documented examples of some operations start work that lasts: `POST /jobs`' example sleeps
 * a second, and hundreds of accepted variants would keep the workers busy long after this test.
 * Their variants are built from a cheap valid sample instead.
 */
const SAMPLE_OVERRIDES: Record<string, unknown> = {
  'post /jobs': { task: 'echo', input: { n: 1 }, timeoutMs: 2000 },
}

/** Every task run is bounded by this (the server's TASK_TIMEOUT is also small). */
const TASK_QUERY = '?timeoutMs=1500'

/** Answers a valid request may get by design (see the module comment). */
function allowed5xx(status: number, code: string | undefined, headers: Headers): boolean {
  if (status === 504) return code === 'task_timeout' || code === 'deadline_exceeded'
  if (status === 503) return (code === 'queue_full' || code === 'overloaded') && headers.get('retry-after') !== null
  return false
}

/** What is wrong with an answer, or null. */
function judge(status: number, headers: Headers, text: string, target = ''): string | null {
  if (status >= 200 && status < 300) return null
  // Under /admin/queues bull-board answers for itself (its own 4xx bodies); a 5xx is still a problem.
  if (target.startsWith('/admin/queues/') && status >= 400 && status < 500) return null
  // The bodiless answer to a conditional read (the hostile headers send `If-None-Match: *`), not
  // an error: it must carry the tag and nothing else (src/http/etag.ts).
  if (status === 304) return text === '' && headers.get('etag') !== null ? null : `304 with a body or without an ETag: ${text.slice(0, 200)}`
  let code: string | undefined
  let envelope = false
  try {
    const err = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }).error
    envelope = typeof err?.code === 'string' && typeof err.message === 'string' && typeof err.requestId === 'string'
    code = typeof err?.code === 'string' ? err.code : undefined
  } catch { /* not JSON */ }
  if (status >= 500 && !allowed5xx(status, code, headers)) return `${status} ${code ?? ''} ${text.slice(0, 200)}`
  if (!envelope) return `non-2xx without the envelope: ${status} ${text.slice(0, 200)}`
  if (!(headers.get('content-type') ?? '').startsWith('application/json')) return `envelope not served as JSON: ${headers.get('content-type')}`
  return null
}

/** Fills `{name}` path parameters (and the `*` of /files/*) with `values[name]` or the parameter's sample. */
function fillPath(path: string, params: Parameter[], values: Record<string, string> = {}): string {
  let out = path.replace('*', values['*'] ?? 'fuzz.txt')
  for (const p of params.filter((x) => x.in === 'path')) {
    out = out.replace(`{${p.name}}`, values[p.name] ?? encodeURIComponent(String(sampleOf(p.schema))))
  }
  return out
}

const HEADER_VALUES = ['', ' ', 'x'.repeat(8000), 'bytes=-0', 'bytes=0-0,0-1,0-2,0-3,0-4,0-5,0-6,0-7,0-8,0-9', 'bytes=99999999999999999999-', 'bytes=a-b',
  'W/"x", *', 'Mon, 32 Foo 99999 99:99:99 GMT', '\t\tvalue', 'é', '1e400']

/** Headers every request may carry, each set sent to every operation. */
const COMMON_HEADERS: ReadonlyArray<Record<string, string>> = [
  { traceparent: '00-' + 'f'.repeat(32) + '-' + 'f'.repeat(16) + '-ff', 'x-request-id': 'x'.repeat(5000) },
  { traceparent: 'garbage', 'x-request-id': '../../<script>%00', 'x-forwarded-for': '1.2.3.4, ::ffff:999.1.1.1, not-an-ip, ' + '9'.repeat(100) },
  { 'accept-encoding': 'gzip;q=NaN, br;q=-1, *;q=1e400', accept: 'application/json;q=2, */*;q=x', 'accept-language': 'é'.repeat(100) },
  { cookie: Array.from({ length: 200 }, (_, i) => `c${i}=${'v'.repeat(20)}`).join('; '), 'if-none-match': '*', 'if-modified-since': 'yesterday' },
  { authorization: 'Bearer ' + 'x'.repeat(4000) },
]

const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=fuzz', 'multipart/form-data',
  'application/json; charset=utf-16', 'application/vnd.api+json', 'application/octet-stream', '*/*', 'application/json;;;', 'a'.repeat(2000)]

/** The probes of one OpenAPI operation. */
function operationProbes(path: string, method: string, op: Operation): Probe[] {
  const params = op.parameters ?? []
  const key = `${method} ${path}`
  const isTask = path.startsWith('/tasks/') || path === '/batch'
  const q = isTask ? TASK_QUERY : ''
  const sep = q ? '&' : '?'
  const M = method.toUpperCase()
  const base = fillPath(path, params)
  const schema = op.requestBody?.content['application/json']?.schema
  const sample = SAMPLE_OVERRIDES[key] ?? (schema ? sampleOf(schema) : undefined)
  const json = { 'content-type': 'application/json' }
  const sampleBody = sample === undefined ? undefined : JSON.stringify(sample)
  const withBody = (p: Omit<Probe, 'method'>): Probe => ({ method: M, ...p, ...(sampleBody !== undefined && p.body === undefined ? { body: sampleBody, headers: { ...json, ...p.headers } } : {}) })
  const probes: Probe[] = [withBody({ label: `${key} baseline`, target: `${base}${q}` })]

  for (const p of params.filter((x) => x.in === 'path')) {
    for (const v of PARAM_VALUES) probes.push(withBody({ label: `${key} path ${p.name}=${short(v)}`, target: `${fillPath(path, params, { [p.name]: v })}${q}` }))
  }
  if (path.includes('*')) {
    for (const v of [...PARAM_VALUES, '..%2f..%2fetc%2fpasswd', '%2e%2e/%2e%2e/etc/passwd', 'a/../../b', '.hidden', 'dir/', '%5c..%5cwin.ini']) {
      probes.push({ label: `${key} wildcard=${short(v)}`, method: M, target: fillPath(path, params, { '*': v }) })
    }
  }
  const queryParams = params.filter((x) => x.in === 'query')
  for (const p of queryParams) {
    const ok = encodeURIComponent(String(sampleOf(p.schema)))
    for (const v of PARAM_VALUES) probes.push(withBody({ label: `${key} query ${p.name}=${short(v)}`, target: `${base}${q}${q ? '&' : '?'}${p.name}=${v}` }))
    for (const [label, query] of [
      ['duplicated', `${p.name}=${ok}&${p.name}=${ok}`], ['duplicated, one hostile', `${p.name}=${ok}&${p.name}=%FF`], ['no value', p.name],
      ['bracketed', `${p.name}[]=${ok}`], ['object form', `${p.name}[a]=${ok}`], ['1000 copies', Array.from({ length: 1000 }, () => `${p.name}=${ok}`).join('&')],
    ] as const) probes.push(withBody({ label: `${key} query ${p.name} ${label}`, target: `${base}${q}${q ? '&' : '?'}${query}` }))
  }
  COMMON_HEADERS.forEach((headers, i) => probes.push(withBody({ label: `${key} hostile common headers #${i}`, target: `${base}${q}`, headers })))
  probes.push(withBody({ label: `${key} unknown query`, target: `${base}${q}${sep}fuzz=%FF&fuzz=1&__proto__[x]=1&constructor[prototype][x]=1` }))
  for (const p of params.filter((x) => x.in === 'header')) {
    for (const v of HEADER_VALUES) probes.push(withBody({ label: `${key} header ${p.name}=${short(v)}`, target: `${base}${q}`, headers: { [p.name]: v } }))
  }

  if (schema) {
    for (const v of bodyVariants(schema, 2, sample)) probes.push({ label: `${key} body ${v.label}`, method: M, target: `${base}${q}`, headers: json, body: v.json })
    const bad = sampleBody ?? '{}'
    for (const type of CONTENT_TYPES) probes.push({ label: `${key} content-type ${short(type)}`, method: M, target: `${base}${q}`, headers: { 'content-type': type }, body: bad })
    probes.push({ label: `${key} no content-type`, method: M, target: `${base}${q}`, body: new TextEncoder().encode(bad) })
    probes.push({ label: `${key} form body`, method: M, target: `${base}${q}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=%FF&items[0][task]=echo' })
    probes.push({ label: `${key} multipart body`, method: M, target: `${base}${q}`, headers: { 'content-type': 'multipart/form-data; boundary=b' },
      body: `--b\r\nContent-Disposition: form-data; name="items"\r\n\r\n${'['.repeat(5000)}${']'.repeat(5000)}\r\n--b--\r\n` })
    probes.push({ label: `${key} empty body`, method: M, target: `${base}${q}`, headers: json, body: '' })
    probes.push({ label: `${key} invalid UTF-8 in body`, method: M, target: `${base}${q}`, headers: json,
      body: new Uint8Array([...new TextEncoder().encode(bad.slice(0, -1)), ...new TextEncoder().encode(',"x":"'), 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, ...new TextEncoder().encode('"}')]) })
    probes.push({ label: `${key} bare invalid UTF-8`, method: M, target: `${base}${q}`, headers: json, body: new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]) })
    probes.push({ label: `${key} BOM`, method: M, target: `${base}${q}`, headers: json, body: `\ufeff${bad}` })
  }
  return probes
}

/** The probes of one task schema: POST /tasks/:name with every variant, and /batch items in chunks. */
function taskProbes(task: { name: string; input: JsonSchema; example?: unknown }): Probe[] {
  const variants = bodyVariants(task.input, 2, task.example ?? sampleOf(task.input))
  const target = `/tasks/${encodeURIComponent(task.name)}${TASK_QUERY}`
  const probes: Probe[] = variants.map((v) => ({ label: `task ${task.name} ${v.label}`, method: 'POST', target, headers: { 'content-type': 'application/json' }, body: v.json }))
  probes.push({ label: `task ${task.name} empty body`, method: 'POST', target, body: '' })
  probes.push({ label: `task ${task.name} invalid UTF-8`, method: 'POST', target, body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) })
  // The same inputs as /batch items: ~700 KB per batch, leaving out what is too deep for a batch body.
  let items: string[] = []
  let size = 0
  const flush = () => {
    if (items.length === 0) return
    probes.push({ label: `batch of ${items.length} ${task.name} variants`, method: 'POST', target: `/batch${TASK_QUERY}`, headers: { 'content-type': 'application/json' }, body: `{"items":[${items.join(',')}]}` })
    items = []
    size = 0
  }
  for (const v of variants) {
    if (jsonDepthExceeds(v.json, 60) || v.json.length > 300_000) continue
    const item = `{"task":${JSON.stringify(task.name)},"input":${v.json}}`
    if (size + item.length > 700_000 || items.length >= 200) flush()
    items.push(item)
    size += item.length
  }
  flush()
  return probes
}

/** Raw-socket probes: bytes a client library would percent-encode, sent as they are. */
function rawProbes(doc: Doc): Array<{ label: string; target: string; data: Buffer }> {
  const out: Array<{ label: string; target: string; data: Buffer }> = []
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const target = fillPath(path, op.parameters ?? [], Object.fromEntries((op.parameters ?? []).filter((p) => p.in === 'path').map((p) => [p.name, '\xff\xc0\xaf'])))
        .replace('fuzz.txt', '\xff\xfe')
      for (const [label, t] of [['path', target], ['query', `${fillPath(path, op.parameters ?? [])}?limit=\xff\xfe&state=\xc0\xaf&x=\xed\xa0\x80`]] as const) {
        const body = op.requestBody ? '{"x":"\xff"}' : ''
        const head = `${method.toUpperCase()} ${t} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n` : ''}\r\n`
        out.push({ label: `raw ${method} ${path} invalid UTF-8 in ${label}`, target: t, data: Buffer.from(head + body, 'latin1') })
      }
    }
  }
  return out
}

async function send(base: string, probe: Probe): Promise<Outcome> {
  try {
    const res = await fetch(`${base}${probe.target}`, {
      method: probe.method, redirect: 'manual', signal: AbortSignal.timeout(20_000),
      ...(probe.headers ? { headers: probe.headers } : {}), ...(probe.body !== undefined ? { body: probe.body } : {}),
    })
    const text = await res.text()
    return { probe, status: res.status, problem: judge(res.status, res.headers, text, probe.target) }
  } catch (err) {
    return { probe, status: 0, problem: `no answer: ${String(err).slice(0, 200)}` }
  }
}

/** What to send in one run. */
export interface FuzzOptions {
  /** Also the probes of every task schema (`POST /tasks/:name`, `/batch`): pool work, the same on every backend. Default true. */
  tasks?: boolean
  /** Send only every n-th probe of the operations (sampling keeps a backend's run short); 1: all. */
  every?: number
  /** Only the operations whose OpenAPI path this accepts (default: all). */
  paths?: (path: string) => boolean
  /** Requests in flight at once (default 8). */
  concurrency?: number
}

/** What one run found. */
export interface FuzzRun {
  /** One line: requests, time, statuses, problems. */
  summary: string
  /** `label: problem` of every answer judged wrong. */
  problems: string[]
  /** How many answers each status got. */
  statuses: Record<number, number>
}

/**
 * Sends the hostile probes of every operation of the server at `url` (listening on 127.0.0.1:`port`
 * for the raw-socket probes) and judges the answers (see the module comment).
 *
 * @example const { problems, summary } = await fuzzServer('http://127.0.0.1:3000/', 3000, { tasks: false, every: 2 })
 */
export async function fuzzServer(url: string, port: number, options: FuzzOptions = {}): Promise<FuzzRun> {
  const base = url.replace(/\/$/, '')
  const every = Math.max(1, options.every ?? 1)
  const keep = options.paths ?? (() => true)
  // A probe of /readyz while the pool's workers start would be a fair 503: wait for ready first.
  for (let i = 0; i < 200 && (await fetch(`${base}/readyz`)).status !== 200; i++) await Bun.sleep(50)
  const published = (await (await fetch(`${base}/swagger/json`)).json()) as Doc
  const doc = { paths: deref(published.paths, published.components?.schemas ?? {}) } as Doc
  if (Object.keys(doc.paths).length <= 15) throw new Error(`/swagger/json lists only ${Object.keys(doc.paths).length} paths`)

  const probes: Probe[] = []
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!keep(path)) continue
    for (const [method, op] of Object.entries(ops)) probes.push(...operationProbes(path, method, op).filter((_, i) => i % every === 0))
  }
  if (options.tasks ?? true) {
    const { tasks } = (await (await fetch(`${base}/tasks`)).json()) as { tasks: Array<{ name: string; input: JsonSchema; example?: unknown }> }
    if (tasks.length <= 5) throw new Error(`GET /tasks lists only ${tasks.length} tasks`)
    for (const task of tasks) probes.push(...taskProbes(task))
  }

  const started = performance.now()
  const outcomes: Outcome[] = []
  let next = 0
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, async () => {
    while (next < probes.length) outcomes.push(await send(base, probes[next++] as Probe))
  }))
  const raw = rawProbes({ paths: Object.fromEntries(Object.entries(doc.paths).filter(([p]) => keep(p))) })
  for (const r of raw) {
    const res = await rawRequest(port, r.data)
    // An answer without a request id came from Bun itself (docs/operations.md), not the app.
    const problem = res.headers['x-request-id'] === undefined
      ? (res.status >= 500 || res.status === 0 ? `Bun answered ${res.status}` : null)
      : judge(res.status, new Headers(res.headers), res.body, r.target)
    outcomes.push({ probe: { label: r.label, method: 'RAW', target: '' }, status: res.status, problem })
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1)

  const statuses: Record<number, number> = {}
  for (const o of outcomes) statuses[o.status] = (statuses[o.status] ?? 0) + 1
  const problems = outcomes.filter((o) => o.problem !== null).map((o) => `${o.probe.label}: ${o.problem}`)
  return {
    summary: `${outcomes.length} requests (${probes.length} fetch, ${raw.length} raw) in ${seconds} s; statuses ${JSON.stringify(statuses)}; problems ${problems.length}`,
    problems,
    statuses,
  }
}

/**
 * The configuration every fuzz server starts from: two workers, no rate limit (the probes come
 * from one address), short task timeouts, files and data in `dir`, the LLM upstream at `llmUrl`;
 * `overrides` pick the backend.
 *
 * @example startServer(fuzzConfig(tmp.dir, fake.url, { databaseUrl: db.url }))
 */
export function fuzzConfig(dir: string, llmUrl: string, overrides: Partial<Config> = {}): Config {
  return testConfig({
    port: 0, host: '127.0.0.1', workers: 2, rateLimitRps: 0, taskTimeout: 2000, jobConcurrency: 1,
    dataDir: join(dir, 'data'), filesDir: join(dir, 'files'), llmBaseUrl: llmUrl, llmApiKey: 'sk-fuzz', ...overrides,
  })
}
