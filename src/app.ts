/**
 * `createApp(deps)`: the Elysia app assembled from middleware and route plugins.
 *
 * Tests build it in-process and call `app.handle(request)`; `server.ts` listens with it. The order
 * of `.use()` is the middleware order documented in the README: request id and server header first
 * (every answer, even an error, carries them), recovery next (it shapes every error), then the
 * routes.
 *
 * @example
 * ```ts
 * const app = createApp({ config: testConfig(), log: silentLogger(), lifecycle: new Lifecycle() })
 * const res = await app.handle(new Request('http://local/healthz'))
 * ```
 */
import { Elysia } from 'elysia'
import type { Config } from './config.ts'
import type { Logger } from './log.ts'
import type { Lifecycle } from './lifecycle.ts'
import { SERVER_NAME } from './version.ts'
import { requestId } from './http/request-id/index.ts'
import { serverHeader } from './http/server-header/index.ts'
import { recovery } from './http/recovery/index.ts'
import { maxInflight } from './http/max-inflight/index.ts'
import { rateLimit } from './http/rate-limit/index.ts'
import { auth } from './http/auth/index.ts'
import { deadline } from './http/deadline/index.ts'
import { circuitBreaker } from './http/circuit-breaker/index.ts'
import { openapiDocs } from './http/openapi/index.ts'
import { healthRoutes } from './routes/health.ts'
import { bodyLimit } from './http/body-limit/index.ts'
import { userRoutes } from './routes/users.ts'
import { fileRoutes } from './routes/files.ts'
import type { UserStore } from './store/users.ts'
import type { Metrics } from './metrics/registry.ts'
import { metricsPlugin, metricsRoutes } from './http/metrics/index.ts'
import { accessLogPlugin, type AccessLog } from './http/access-log/index.ts'
import { tracingPlugin } from './http/tracing/index.ts'
import type { Tracing } from './http/tracing/exporter.ts'
import type { TaskRunner } from './pool/types.ts'
import type { JobRunner } from './jobs/runner.ts'
import { jobsRoutes } from './routes/jobs.ts'
import { taskRoutes } from './routes/tasks.ts'
import { batchRoutes } from './routes/batch.ts'
import { carRoutes } from './routes/cars.ts'
import { poolRoutes } from './routes/pool.ts'
import { messagesRoutes } from './routes/messages.ts'
import type { LlmClient } from './llm/client.ts'
import type { MessageStore } from './store/messages.ts'

/** Everything the routes need, built once by `server.ts` (or by a test). */
export interface AppDeps {
  config: Config
  log: Logger
  lifecycle: Lifecycle
  /** Users on bun:sqlite (docs/users-files.md). */
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
  jobs: JobRunner
  /** The LLM upstream client: one semaphore and one breaker for the whole server (docs/llm.md). */
  llm: LlmClient
  /** Stored LLM exchanges on bun:sqlite (docs/llm.md). */
  messages: MessageStore
}

/** Builds the highperf Elysia app from its dependencies. */
export function createApp(deps: AppDeps) {
  return new Elysia({ name: 'highperf' })
    // Observability wraps everything (docs/observability.md): its timing starts first and its
    // after-response hooks see the final status of every request, guards' refusals and 404s included.
    .use(metricsPlugin(deps.metrics))
    .use(tracingPlugin(deps.tracing))
    .use(accessLogPlugin(deps.accessLog, deps.config.trustProxy))
    .use(requestId())
    .use(serverHeader(SERVER_NAME))
    // Before recovery: its error hook turns a parser's oversize-body failure back into a 413.
    .use(bodyLimit(deps.config.maxBodySize))
    .use(recovery(deps.log))
    // Guards (docs/resilience.md#order): cheapest refusals first, all before the body is read.
    .use(maxInflight({ limit: deps.config.maxInflight, onShed: () => deps.metrics.shed('max_inflight') }))
    .use(rateLimit({ rps: deps.config.rateLimitRps, burst: deps.config.rateLimitBurst, trustProxy: deps.config.trustProxy, apiToken: deps.config.apiToken, onRejected: () => deps.metrics.rateLimited() }))
    .use(auth({ apiToken: deps.config.apiToken, authReads: deps.config.authReads }))
    .use(deadline({ requestTimeout: deps.config.requestTimeout, taskTimeout: deps.config.taskTimeout, llmTimeout: deps.config.llmTimeout, onTimeout: (route) => deps.metrics.timedOut(route) }))
    .use(circuitBreaker({ failureThreshold: deps.config.cbFailureThreshold, openDurationMs: deps.config.cbOpenDuration, onStateChange: (route, state) => deps.metrics.breakerState(route, state), onRejected: (route) => deps.metrics.breakerRejected(route) }))
    .use(openapiDocs())
    .use(healthRoutes(deps.lifecycle))
    .use(userRoutes(deps.users))
    .use(fileRoutes(deps.config.filesDir))
    .use(metricsRoutes(deps.metrics))
    .use(jobsRoutes(deps))
    .use(taskRoutes(deps))
    .use(batchRoutes(deps))
    .use(carRoutes(deps))
    .use(poolRoutes(deps))
    .use(messagesRoutes(deps))
}

/** The app's type, for Eden clients and typed tests. */
export type App = ReturnType<typeof createApp>
