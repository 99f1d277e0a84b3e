/**
 * A small app behind the front, for testing stages on their own: the given stages, the recovery
 * error handler, and the routes a test adds.
 *
 * @example
 * ```ts
 * const app = stackApp([auth({ apiToken: 's3cret', authReads: false })], (e) => e.post('/things', () => 'ok'))
 * const res = await app.handle(new Request('http://localhost/things', { method: 'POST' })) // 401
 * ```
 */
import { Elysia, type AnyElysia } from 'elysia'
import { createFront, type Front, type Stage } from '../../src/http/front/index.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { silentLogger, type Logger } from '../../src/log.ts'

/** Options of {@link stackApp}. */
export interface StackAppOptions {
  log?: Logger
  trustProxy?: boolean
}

/** Builds `routes` on an Elysia app with the recovery handler, behind a front running `stages`. */
export function stackApp(stages: readonly Stage[], routes: (app: AnyElysia) => AnyElysia, options: StackAppOptions = {}): Front & { elysia: AnyElysia } {
  const log = options.log ?? silentLogger()
  const elysia = routes(new Elysia().use(recovery(log)))
  // Object.assign, not a spread: a spread would copy the front's `waiting` getter as a number.
  return Object.assign(createFront(elysia, stages, { serverName: 'highperf/test', log, trustProxy: options.trustProxy ?? false }), { elysia })
}
