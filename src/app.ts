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
import { healthRoutes } from './routes/health.ts'

/** Everything the routes need, built once by `server.ts` (or by a test). */
export interface AppDeps {
  config: Config
  log: Logger
  lifecycle: Lifecycle
}

/** Builds the highperf Elysia app from its dependencies. */
export function createApp(deps: AppDeps) {
  return new Elysia({ name: 'highperf' })
    .use(requestId())
    .use(serverHeader(SERVER_NAME))
    .use(recovery(deps.log))
    .use(healthRoutes(deps.lifecycle))
}

/** The app's type, for Eden clients and typed tests. */
export type App = ReturnType<typeof createApp>
