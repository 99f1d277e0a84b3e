/**
 * bench/request-hooks: what the body-limit and files `onRequest` hooks cost a GET that neither
 * concerns (`GET /healthz`), in process (`app.handle`, no sockets), and what declaring them with
 * `syncHook` saves over letting Elysia compile them as async.
 *
 * Variants, built in the same run on the foundation stack (request id, recovery):
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
import { Elysia } from 'elysia'
import { requestId } from '../../src/http/request-id/index.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { bodyLimit } from '../../src/http/body-limit/index.ts'
import { fileRoutes, FILES_PREFIX } from '../../src/routes/files.ts'
import { silentLogger } from '../../src/log.ts'
import { onRequestHook } from '../../src/http/guard-hooks.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian as median } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 15)
const N = 30_000

type Variant = 'baseline' | 'shipped' | 'async'

function build(variant: Variant) {
  let app = new Elysia().use(requestId()).use(recovery(silentLogger())) as unknown as Elysia
  if (variant === 'shipped') app = app.use(bodyLimit(1 << 20)).use(fileRoutes('/nonexistent')) as unknown as Elysia
  if (variant === 'async') {
    // The same early checks, written as async hooks (what the plugins would be without syncHook).
    app = app
      .onRequest(async ({ request }) => {
        if (request.method === 'GET' || request.method === 'HEAD') return
        if (Number(request.headers.get('content-length')) > 1 << 20) return new Response(null, { status: 413 })
      })
      .onRequest(onRequestHook(async ({ request, path }) => {
        if (request.method === 'HEAD' && path.startsWith(FILES_PREFIX)) return new Response(null, { status: 404 })
      })) as unknown as Elysia
  }
  return app.get('/healthz', () => 'ok')
}

const variants: Variant[] = ['baseline', 'shipped', 'async']
const apps = variants.map((v) => [v, build(v)] as const)
const request = new Request('http://localhost/healthz')
for (const [, app] of apps) for (let i = 0; i < N; i++) await app.handle(request)

const samples: Record<Variant, number[]> = { baseline: [], shipped: [], async: [] }
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, app] of apps) {
    const t0 = Bun.nanoseconds()
    for (let i = 0; i < N; i++) await app.handle(request)
    samples[name].push((Bun.nanoseconds() - t0) / N)
  }
}
const best = (xs: number[]) => Math.min(...xs)
const base = median(samples.baseline)
const bestBase = best(samples.baseline)
const lines = [
  '## request-hooks: GET /healthz through app.handle, ns per request',
  '',
  `Command: \`bun bench/request-hooks/index.ts\` (${ROUNDS} interleaved rounds of ${N} requests; Bun ${Bun.version}).`,
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
