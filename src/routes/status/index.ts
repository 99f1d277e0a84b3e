/**
 * The status page: `GET /status` (HTML), its script and stylesheet under `/status/assets/`, and
 * `GET /status/json`, the figures it draws once a second (see snapshot.ts: the pool's stats, the
 * jobs runner's counts and the HTTP request series; no new metric). With `PROCESSES` > 1 the
 * figures are the host's: every process's snapshot merged (snapshot.ts).
 *
 * Why a hand-written page and no chart library: the binary must serve it offline (no CDN) and
 * the figures are a few lines and bars; ~10 KB of script draws them as SVG. The script and the
 * stylesheet are imported with `{ type: 'file' }`, so `bun build --compile` embeds them as it
 * embeds the Swagger UI's assets (test/routes/status.test.ts checks the import attributes and
 * serves the page from a compiled binary).
 *
 * Policy (`STATUS`, src/routes/policy.ts): open like `/metrics`, whose figures it repeats, even
 * with `AUTH_READS`; not rate limited (a viewer polls once a second) but still shed.
 *
 * @example
 * ```ts
 * app.use(statusRoutes({ pool, jobs, metrics }))
 * // GET /status      -> the page (text/html, strict CSP)
 * // GET /status/json -> {"at":1764766800000,"pool":{"workers":2,...},"tasks":[...],"jobs":{...},"http":{...}}
 * ```
 */
import { Elysia, t } from 'elysia'
import clientFile from './client.js' with { type: 'file' }
import cssFile from './status.css' with { type: 'file' }
import { policyOption } from '../../http/route-policy.ts'
import { STATUS } from '../policy.ts'
import { STATUS_ASSETS, STATUS_CSP, STATUS_HTML } from './page.ts'
import { mergeSnapshots, statusSnapshot, type StatusSnapshot, type StatusSources } from './snapshot.ts'
import { POOL_GATHER_TIMEOUT_MS } from '../pool.ts'
import type { Bus, BusData } from '../../cluster/bus.ts'

/** Headers of the page and its assets: the CSP, no framing, no sniffing, no referrer. */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': STATUS_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** One embedded asset, read on first use; revalidated by its content hash (a new binary, a new ETag). */
class Asset {
  readonly #file: string
  readonly #type: string
  #bytes: Uint8Array | undefined
  #etag = ''

  constructor(file: string, type: string) {
    this.#file = file
    this.#type = type
  }

  async respond(request: Request): Promise<Response> {
    if (this.#bytes === undefined) {
      const bytes = await Bun.file(this.#file).bytes()
      this.#etag = `"${Bun.hash(bytes).toString(36)}"`
      this.#bytes = bytes
    }
    const headers = { ...PAGE_HEADERS, 'content-type': this.#type, 'cache-control': 'no-cache', etag: this.#etag }
    if (request.headers.get('if-none-match') === this.#etag) return new Response(null, { status: 304, headers })
    return new Response(this.#bytes, { headers })
  }
}

const Percentiles = t.Object({ p50: t.Number(), p90: t.Number(), p99: t.Number() })
const StatusSchema = t.Object({
  at: t.Number({ description: 'When the snapshot was taken, epoch ms' }),
  pool: t.Object({
    workers: t.Integer(), alive: t.Integer(), running: t.Integer(), queued: t.Integer(), queueLimit: t.Integer(),
    restarts: t.Integer(), overflow: t.Integer(), longRuns: t.Integer(),
    utilization: t.Array(t.Number({ minimum: 0, maximum: 1 }), { description: 'Per worker, fraction of time spent running tasks since start' }),
  }, { description: 'As GET /pool' }),
  tasks: t.Array(t.Object({ name: t.String(), ok: t.Integer(), failed: t.Integer(), canceled: t.Integer(), timedOut: t.Integer(), runMs: Percentiles, queueWaitMs: Percentiles })),
  jobs: t.Object({ queued: t.Integer(), running: t.Integer(), succeeded: t.Integer(), failed: t.Integer(), canceled: t.Integer() }, { description: 'Jobs by state' }),
  http: t.Object({
    requests: t.Integer(), clientErrors: t.Integer({ description: '4xx' }), serverErrors: t.Integer({ description: '5xx' }),
  }, { description: 'Finished requests since start (cumulative), the status page\'s own excluded' }),
  processes: t.Optional(t.Integer({ minimum: 0, description: 'PROCESSES > 1 only: the server processes these figures cover (those that answered within 1 s); every figure is then the host\'s' })),
})

/** What the status routes read: the snapshot's sources and, in a cluster, the bus to the other processes. */
export interface StatusRouteDeps extends StatusSources {
  /** `LOCAL_BUS` alone; in a cluster every poll gathers each process's snapshot (topic `status`). */
  bus?: Bus
}

/**
 * Elysia plugin with the status page, its assets and `GET /status/json`.
 *
 * @example createRoutes(deps) // .use(statusRoutes(deps))
 */
export function statusRoutes(sources: StatusRouteDeps) {
  const bus = sources.bus
  const snapshot = bus?.clustered
    ? async (): Promise<StatusSnapshot> => {
      const answers = await bus.gather('status', null, POOL_GATHER_TIMEOUT_MS)
      return mergeSnapshots(answers.map((a) => a.data as unknown as StatusSnapshot))
    }
    : (): StatusSnapshot => statusSnapshot(sources)
  if (bus?.clustered) bus.answer('status', () => statusSnapshot(sources) as unknown as BusData)
  const script = new Asset(clientFile, 'text/javascript; charset=utf-8')
  const css = new Asset(cssFile, 'text/css; charset=utf-8')
  return new Elysia({ name: 'highperf/routes/status' })
    .use(policyOption)
    .get('/status', () => new Response(STATUS_HTML, { headers: { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' } }), {
      policy: STATUS,
      detail: { summary: 'Status page: workers, queue, task latency, jobs and HTTP rate, live (HTML)', tags: ['status'] },
    })
    .get(`${STATUS_ASSETS}/status.js`, ({ request }) => script.respond(request), { policy: STATUS, detail: { hide: true } })
    .get(`${STATUS_ASSETS}/status.css`, ({ request }) => css.respond(request), { policy: STATUS, detail: { hide: true } })
    .get('/status/json', ({ set }) => {
      set.headers['cache-control'] = 'no-store'
      return snapshot()
    }, {
      policy: STATUS,
      detail: { summary: 'The status page\'s figures: pool, tasks, jobs by state, HTTP counts (cumulative)', tags: ['status'] },
      response: { 200: StatusSchema },
    })
}
