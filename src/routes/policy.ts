/**
 * The kinds of route highperf has, and what the guards do for each: the policies the routes
 * declare with their `policy` option (src/http/route-policy.ts). A route that declares none gets
 * the default: `REQUEST_TIMEOUT` and every guard.
 *
 * Declared on the route (Fastify's per-route options), not in a table of templates: a route that
 * is renamed, added or moved keeps or gets its policy where it is written, and no file outside
 * routes/ names a route. `createRoutes` (src/app.ts) declares the policy of the two route plugins
 * it mounts from outside routes/ (the scrape and the API docs) where it mounts them.
 * test/routes/policy.test.ts lists every route's policy; docs/resilience.md has the table.
 *
 * @example
 * ```ts
 * new Elysia().use(policyOption)
 *   .get('/healthz', () => 'ok', { policy: PROBE })
 *   .post('/tasks/:name', run, { policy: TASK })
 * ```
 */
import { routePolicy, type RoutePolicy } from '../http/route-policy.ts'

/**
 * Liveness and readiness: never shed, rate limited, asked for a token or refused by a breaker, so
 * a load balancer sees the instance as it is even while it sheds or refuses; `REQUEST_TIMEOUT`.
 */
export const PROBE: RoutePolicy = routePolicy({ exempt: { shed: true, rateLimit: true, auth: true, breaker: true } })

/**
 * The Prometheus scrape: a probe, and no deadline (the scraper's own timeout bounds it; a cut
 * would only lose data).
 */
export const SCRAPE: RoutePolicy = routePolicy({ ...PROBE, deadline: 'none' })

/**
 * The API docs (the UI, the document, the UI's assets): readable without a token and without a
 * breaker, still shed and rate limited like any read; no deadline (a 1.7 MB asset on a slow link).
 */
export const DOCS: RoutePolicy = routePolicy({ deadline: 'none', exempt: { auth: true, breaker: true } })

/**
 * The status page and its figures (`/status`, `/status/json`, its assets): open like `/metrics`,
 * whose figures it repeats (no token even with `AUTH_READS`, no breaker), and not rate limited
 * (each viewer polls once a second; an operator needs it most when limits bite); still shed.
 * Answered from memory: 0.8 × `REQUEST_TIMEOUT`.
 */
export const STATUS: RoutePolicy = routePolicy({ deadline: 'hot-read', exempt: { rateLimit: true, auth: true, breaker: true } })

/** Reads answered from one indexed row or from memory: 0.8 × `REQUEST_TIMEOUT`. */
export const HOT_READ: RoutePolicy = routePolicy({ deadline: 'hot-read' })

/**
 * Work on the pool: `TASK_TIMEOUT`, which the client may set with `?timeoutMs=N` (up to
 * `TASK_TIMEOUT`); a 504 is then the client's budget, not the route's health (the breaker).
 *
 * @example app.post('/batch', runAll, { policy: TASK }) // POST /batch?timeoutMs=500: a 500 ms deadline
 */
export const TASK: RoutePolicy = routePolicy({ deadline: 'task', clientSetsDeadline: true })

/** Calls to the LLM upstream: `LLM_TIMEOUT` until the handler answers. */
export const LLM: RoutePolicy = routePolicy({ deadline: 'llm' })

/**
 * Answers that stream for as long as the client reads (SSE, files sent with sendfile): no
 * deadline, only the client's disconnect.
 */
export const STREAM: RoutePolicy = routePolicy({ deadline: 'none' })

/**
 * The queue dashboard (`/admin/queues`, bull-board): its own token check (Bearer, or Basic with
 * the token as password so a browser can log in) on every method, so the auth stage lets it
 * through; not rate limited (the UI polls its API every few seconds, and an operator needs it
 * most when limits bite, as the status page); no breaker; no deadline (UI assets); still shed.
 */
export const DASHBOARD: RoutePolicy = routePolicy({ deadline: 'none', exempt: { auth: true, breaker: true, rateLimit: true } })
