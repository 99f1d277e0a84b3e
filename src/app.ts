/**
 * `createApp(deps)`: highperf assembled: the Elysia routes (validation, OpenAPI, error handler)
 * behind the front, which runs the middleware stack as plain function calls (src/http/front).
 *
 * Tests build it in-process and call `app.handle(request)`; `server.ts` serves `app.fetch`. The
 * stack's order is {@link createStages}'s, documented in the README: every answer, errors
 * included, carries the request id and the Server header.
 *
 * @example
 * ```ts
 * const app = createApp({ config: testConfig(), log: silentLogger(), lifecycle: new Lifecycle() })
 * const res = await app.handle(new Request('http://local/healthz'))
 * ```
 */
import { Elysia, type AnyElysia } from 'elysia'
import { createFront, type Front, type Stage } from './http/front/index.ts'
import type { Config } from './config.ts'
import type { Logger } from './log.ts'
import type { Lifecycle } from './lifecycle.ts'
import { SERVER_NAME } from './version.ts'
import { recovery } from './http/recovery/index.ts'
import { maxInflight } from './http/max-inflight/index.ts'
import { rateLimit, type RateLimiter } from './http/rate-limit/index.ts'
import { selectRateLimiter } from './http/rate-limit/select.ts'
import { auth } from './http/auth/index.ts'
import { deadline } from './http/deadline/index.ts'
import { circuitBreaker } from './http/circuit-breaker/index.ts'
import { compression } from './http/compression/index.ts'
import { corsStage, type Cors } from './http/cors/index.ts'
import { openapiDocs } from './routes/docs/index.ts'
import { healthRoutes } from './routes/health.ts'
import { bodyLimit, declaredBodyLimit } from './http/body-limit/index.ts'
import { userRoutes } from './routes/users.ts'
import { fileRoutes } from './routes/files/index.ts'
import type { UserStore } from './store/users.ts'
import type { Metrics } from './metrics/registry.ts'
import { metricsStage } from './http/metrics/index.ts'
import { metricsRoutes } from './routes/metrics.ts'
import { accessLogStage, type AccessLog } from './http/access-log/index.ts'
import { tracingStage } from './http/tracing/index.ts'
import type { Tracing } from './http/tracing/exporter.ts'
import type { TaskRunner } from './pool/types.ts'
import type { JobService } from './jobs/service.ts'
import type { Bus } from './cluster/bus.ts'
import { jobsRoutes } from './routes/jobs.ts'
import { taskRoutes } from './routes/tasks.ts'
import { batchRoutes } from './routes/batch.ts'
import { carRoutes } from './routes/cars.ts'
import { poolRoutes } from './routes/pool.ts'
import { messagesRoutes } from './routes/messages.ts'
import { adminBackupRoutes } from './routes/admin-backup.ts'
import { adminQueuesRoutes } from './routes/admin-queues.ts'
import { statusRoutes } from './routes/status/index.ts'
import type { LlmClient } from './llm/client.ts'
import type { MessageStore } from './store/messages.ts'
import { withPolicy } from './http/route-policy.ts'
import { DOCS, SCRAPE } from './routes/policy.ts'

/** Everything the routes need, built once by `buildDeps` in src/deps.ts (or by a test). */
export interface AppDeps {
  config: Config
  log: Logger
  lifecycle: Lifecycle
  /** Users on bun:sqlite, or PostgreSQL with DATABASE_URL (docs/users-files.md). */
  users: UserStore
  /** Prometheus registry and every metric (docs/observability.md). */
  metrics: Metrics
  /** Span export; null when OTEL_EXPORTER_OTLP_ENDPOINT is unset. */
  tracing: Tracing | null
  /** The access log; null when ACCESS_LOG=off. */
  accessLog: AccessLog | null
  /** The worker pool that runs tasks (docs/pool.md). */
  pool: TaskRunner
  /** Persistent jobs on the pool (docs/jobs.md). */
  jobs: JobService
  /** The LLM upstream client: one semaphore and one breaker for the whole server (docs/llm.md). */
  llm: LlmClient
  /** Stored LLM exchanges on bun:sqlite, or PostgreSQL with DATABASE_URL (docs/llm.md). */
  messages: MessageStore
  /** The other server processes of this host (`PROCESSES` > 1); `LOCAL_BUS` alone (src/cluster/bus.ts). */
  bus: Bus
  /** The limiter shared across nodes (RATE_LIMIT_URL); unset: the stage builds the local one. */
  rateLimiter?: RateLimiter
}

/** Options of {@link createApp}. */
export interface CreateAppOptions {
  /** Adds routes after highperf's own (tests, embedders); they get the whole stack like any route. */
  routes?: (app: AnyElysia) => AnyElysia
}

/** The assembled server: the Elysia app behind its front. */
export interface HighperfApp {
  /** Routes, validation, OpenAPI and the error handler (docs/design.md). */
  readonly elysia: AnyElysia
  /** The middleware stack, in order; named so tests and /metrics can reach a stage's stats. */
  readonly stages: readonly Stage[]
  /** `Bun.serve`'s `fetch`: the front, then the route. */
  readonly fetch: Front['fetch']
  /** One request in-process through the whole stack (tests, benchmarks). */
  readonly handle: Front['handle']
  /** The front itself: `server.ts` ends a drain with its `shutdown()` (503 to every waiting request). */
  readonly front: Front
}

/**
 * The middleware stack in order (docs/resilience.md#order): observability first, so its `after`
 * runs last and sees every outcome; then the guards, cheapest refusals first, all before the body
 * is read.
 *
 * CORS (when `CORS_ORIGINS` is set) comes before the guards: its `after` then decorates every
 * refusal too, so a browser script can read a 429 or a 401.
 *
 * @example createStages(deps).map((s) => s.name) // ['metrics', 'tracing', 'access-log', 'cors', 'body-limit', 'max-inflight', 'rate-limit', 'auth', 'deadline', 'circuit-breaker', 'compression']
 */
export function createStages(deps: AppDeps): Stage[] {
  const { config, metrics } = deps
  const stages: Stage[] = [metricsStage(metrics), tracingStage(deps.tracing)]
  if (deps.accessLog !== null) stages.push(accessLogStage(deps.accessLog))
  const cors = corsStage({ origins: config.corsOrigins, credentials: config.corsCredentials })
  if (cors !== null) stages.push(cors)
  stages.push(
    // First of the guards: a declared oversize body gets its 413 and a closed connection before
    // any other refusal leaves Bun draining the body.
    declaredBodyLimit(config.maxBodySize),
    maxInflight({ limit: config.maxInflight, onShed: () => metrics.shed('max_inflight') }),
    // RATE_LIMIT_URL's Redis limiter when set (deps), else this host's: the shared-memory table in a
    // cluster, the in-process buckets alone (src/http/rate-limit/select.ts).
    rateLimit({
      rps: config.rateLimitRps, burst: config.rateLimitBurst, trustProxy: config.trustProxy, apiToken: config.apiToken, onRejected: () => metrics.rateLimited(),
      limiter: deps.rateLimiter ?? selectRateLimiter(config),
    }),
    auth({ apiToken: config.apiToken, authReads: config.authReads }),
    deadline({ requestTimeout: config.requestTimeout, taskTimeout: config.taskTimeout, llmTimeout: config.llmTimeout, onTimeout: (route) => metrics.timedOut(route) }),
    circuitBreaker({ failureThreshold: config.cbFailureThreshold, openDurationMs: config.cbOpenDuration, onStateChange: (route, state) => metrics.breakerState(route, state), onRejected: (route) => metrics.breakerRejected(route) }),
  )
  if (config.compression === 'on') stages.push(compression())
  return stages
}

/**
 * The Elysia part: error handler, body limit, docs and every route plugin. Each route declares its
 * policy (src/routes/policy.ts); the two plugins mounted from outside routes/ get theirs here, on
 * every route they register.
 *
 * @example createRoutes(deps).routes.length // every route, for the front's table
 */
export function createRoutes(deps: AppDeps) {
  return new Elysia({ name: 'highperf' })
    // Before recovery: its error hook turns a parser's oversize-body failure back into a 413.
    .use(bodyLimit(deps.config.maxBodySize))
    .use(recovery(deps.log))
    .use(withPolicy(openapiDocs(), DOCS))
    .use(healthRoutes(deps.lifecycle))
    .use(userRoutes(deps.users))
    .use(fileRoutes(deps.config.filesDir))
    .use(withPolicy(metricsRoutes(deps), SCRAPE))
    .use(jobsRoutes(deps))
    .use(taskRoutes(deps))
    .use(batchRoutes(deps))
    .use(carRoutes(deps))
    .use(poolRoutes(deps))
    .use(messagesRoutes(deps))
    .use(adminBackupRoutes(deps))
    .use(adminQueuesRoutes(deps))
    .use(statusRoutes(deps))
}

/** Builds highperf from its dependencies: the routes behind the middleware stack. */
export function createApp(deps: AppDeps, options: CreateAppOptions = {}): HighperfApp {
  const routes = createRoutes(deps)
  const elysia = options.routes === undefined ? routes : options.routes(routes)
  const stages = createStages(deps)
  // The CORS stage also answers preflights, which the front asks before any guard.
  const cors = stages.find((s): s is Cors => s.name === 'cors' && 'preflight' in s)
  const front = createFront(elysia, stages, { serverName: SERVER_NAME, log: deps.log, trustProxy: deps.config.trustProxy, preflight: cors?.preflight.bind(cors) })
  return { elysia, stages, fetch: front.fetch, handle: front.handle, front }
}

/** The Elysia app's type, for Eden clients and typed tests. */
export type App = ReturnType<typeof createRoutes>
