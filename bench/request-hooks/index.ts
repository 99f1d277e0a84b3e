/**
 * bench/request-hooks: what the body-limit and files `onRequest` hooks cost a GET that neither
 * concerns (`GET /healthz`), in process (the front's `handle`, no sockets), and what declaring
 * them with `syncHook` saves over letting Elysia compile them as async. Both hooks are still
 * Elysia `onRequest` hooks under the front (src/http/front): they run inside the app's compiled
 * handler, after the stages.
 *
 * Variants, built in the same run on the foundation (the front with no stage: request id and
 * Server header; Elysia with the recovery error handler):
 * - `baseline`: no extra hook;
 * - `shipped`: `bodyLimit` + `fileRoutes`, as `createApp` mounts them (hooks declared synchronous);
 * - `async`: the same two checks as `async` hooks: Elysia then awaits them on every request.
 *
 * Rounds are interleaved; the table gives the median and the best round of ROUNDS, per request.
 * The machine has 2 shared cores: medians swing with its load; the best round (what the code
 * costs when nothing else competes for the core) is the steadier figure.
 *
 * @example
 * ```sh
 * bun bench/request-hooks/index.ts           # ~15 s, writes bench/results/request-hooks.md
 * ROUNDS=3 bun bench/request-hooks/index.ts  # quick look
 * ```
 */
import { Elysia, type AnyElysia } from 'elysia'
import { createFront } from '../../src/http/front/index.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { bodyLimit } from '../../src/http/body-limit/index.ts'
import { fileRoutes, FILES_PREFIX } from '../../src/routes/files/index.ts'
import { silentLogger } from '../../src/log.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian as median } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 15)
const N = 30_000

type Variant = 'baseline' | 'shipped' | 'async'

// Elysia fills `path` before onRequest hooks run, but its PreContext type does not declare it
// (src/routes/files/index.ts reads it the same way).
type PathHook = (facts: { request: Request; path: string }) => Promise<Response | undefined>
const withPath = (fn: PathHook) => fn as unknown as (context: object) => unknown

function build(variant: Variant) {
  const log = silentLogger()
  let app: AnyElysia = new Elysia().use(recovery(log))
  if (variant === 'shipped') app = app.use(bodyLimit(1 << 20)).use(fileRoutes('/nonexistent'))
  if (variant === 'async') {
    // The same early checks, written as async hooks (what the plugins would be without syncHook).
    app = app
      .onRequest(async ({ request }) => {
        if (request.method === 'GET' || request.method === 'HEAD') return
        if (Number(request.headers.get('content-length')) > 1 << 20) return new Response(null, { status: 413 })
      })
      .onRequest(withPath(async ({ request, path }) => {
        if (request.method === 'HEAD' && path.startsWith(FILES_PREFIX)) return new Response(null, { status: 404 })
        return undefined
      }))
  }
  return createFront(app.get('/healthz', () => 'ok'), [], { serverName: 'highperf/bench', log, trustProxy: false })
}

const variants: Variant[] = ['baseline', 'shipped', 'async']
const apps = variants.map((v) => [v, build(v)] as const)
// A fresh Request per call: the front attaches its state to the Request, so reusing one object
// would measure a property overwrite instead of a property add.
const request = () => new Request('http://localhost/healthz')
for (const [name, app] of apps) {
  for (let i = 0; i < N; i++) {
    const res = await app.handle(request())
    if (res.status !== 200) throw new Error(`${name}: status ${res.status}`)
  }
}

const samples: Record<Variant, number[]> = { baseline: [], shipped: [], async: [] }
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, app] of apps) {
    const t0 = Bun.nanoseconds()
    for (let i = 0; i < N; i++) await app.handle(request())
    samples[name].push((Bun.nanoseconds() - t0) / N)
  }
}
const best = (xs: number[]) => Math.min(...xs)
const base = median(samples.baseline)
const bestBase = best(samples.baseline)
const lines = [
  '## request-hooks: GET /healthz through the front handle, ns per request',
  '',
  `Command: \`bun bench/request-hooks/index.ts\` (${ROUNDS} interleaved rounds of ${N} requests through the front's \`handle\`, a new Request each; Bun ${Bun.version}).`,
  '',
  '| variant | median ns/req | best ns/req | median vs baseline | best vs baseline |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...variants.map((v) => `| ${v} | ${median(samples[v]).toFixed(0)} | ${best(samples[v]).toFixed(0)} | ${(median(samples[v]) / base).toFixed(2)}× | ${(best(samples[v]) / bestBase).toFixed(2)}× |`),
  '',
  '`shipped` = body-limit + files HEAD hooks declared with `syncHook`; `async` = the same checks as async hooks.',
  '',
]
const table = lines.join('\n')
writeResult('request-hooks', table)
