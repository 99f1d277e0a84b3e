/**
 * Liveness and readiness: `GET /healthz` answers `ok` while the process can serve at all;
 * `GET /readyz` answers 200 with the checks while the server takes traffic and 503 once it drains.
 *
 * @example
 * ```ts
 * app.use(healthRoutes(lifecycle))
 * ```
 */
import { Elysia, t } from 'elysia'
import type { Lifecycle } from '../lifecycle.ts'
import { errorJson } from '../http/error-response.ts'
import { requestIdOf } from '../http/request-id/index.ts'
import { policyOption } from '../http/route-policy.ts'
import { PROBE } from './policy.ts'
import { ErrorSchema } from './schemas.ts'

const ReadySchema = t.Object(
  { status: t.Literal('ready'), checks: t.Record(t.String(), t.Boolean()) },
  { examples: [{ status: 'ready', checks: { pool: true } }] },
)

/** Elysia plugin with `/healthz` and `/readyz`. */
export function healthRoutes(lifecycle: Lifecycle) {
  return new Elysia({ name: 'highperf/routes/health' })
    .use(policyOption)
    .get('/healthz', () => 'ok', {
      policy: PROBE,
      detail: { summary: 'Liveness: 200 ok while the process serves', tags: ['health'] },
      response: { 200: t.String({ examples: ['ok'] }) },
    })
    .get(
      '/readyz',
      ({ request }) => {
        const checks = lifecycle.checks()
        if (lifecycle.draining) return errorJson('shutting_down', 'The server is draining and takes no new work', requestIdOf(request))
        for (const name in checks) {
          if (!checks[name]) {
            // Every failing check, as the one shape of `details` (src/errors.ts ErrorDetail).
            const failing = Object.keys(checks).filter((n) => !checks[n]).map((n) => ({ path: `/checks/${n}`, message: `the ${n} check fails` }))
            return errorJson('overloaded', `Readiness check '${name}' fails`, requestIdOf(request), failing)
          }
        }
        return { status: 'ready' as const, checks }
      },
      {
        policy: PROBE,
        detail: { summary: 'Readiness: 200 while taking traffic, 503 while draining or unhealthy', tags: ['health'] },
        response: { 200: ReadySchema, 503: ErrorSchema },
      },
    )
}
