/**
 * A small app behind the front, for testing stages on their own: the given stages, the recovery
 * error handler, and the routes a test adds (which may declare a `policy`, as highperf's routes
 * do: src/routes/policy.ts). And highperf's own route table, to check what its routes declare.
 *
 * @example
 * ```ts
 * const app = stackApp([auth({ apiToken: 's3cret', authReads: false })], (e) => e.post('/things', () => 'ok'))
 * const res = await app.handle(new Request('http://localhost/things', { method: 'POST' })) // 401
 * (await appRoutes()).match('GET', '/healthz').policy.exempt.auth // true
 * ```
 */
import { Elysia, type AnyElysia } from 'elysia'
import { createRoutes } from '../../src/app.ts'
import { createFront, type Front, type Stage } from '../../src/http/front/index.ts'
import { RouteTable } from '../../src/http/front/router.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { DEFAULT_POLICY, policyOption, routePolicy, type RoutePolicy, type RoutePolicyInput } from '../../src/http/route-policy.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { testDeps } from './deps.ts'

/** Options of {@link stackApp}. */
export interface StackAppOptions {
  log?: Logger
  trustProxy?: boolean
}

/** Builds `routes` on an Elysia app with the recovery handler, behind a front running `stages`. */
export function stackApp(stages: readonly Stage[], routes: (app: AnyElysia) => AnyElysia, options: StackAppOptions = {}): Front & { elysia: AnyElysia } {
  const log = options.log ?? silentLogger()
  const elysia = routes(new Elysia().use(policyOption).use(recovery(log)))
  // Object.assign, not a spread: a spread would copy the front's `waiting` getter as a number.
  return Object.assign(createFront(elysia, stages, { serverName: 'highperf/test', log, trustProxy: options.trustProxy ?? false }), { elysia })
}

/** One of highperf's routes as Elysia lists it, with the policy it declares (the default when none). */
export interface ListedRoute {
  method: string
  path: string
  policy: RoutePolicy
}

let table: Promise<{ routes: ListedRoute[]; table: RouteTable }> | undefined

/**
 * highperf's routes (method, template and declared policy, as Elysia lists them) and the front's
 * table of them: built once per test file from `createRoutes` on test dependencies.
 */
export function appRoutes(): Promise<{ routes: ListedRoute[]; table: RouteTable }> {
  table ??= (async () => {
    const t = await testDeps({ workers: 1 })
    try {
      const listed = createRoutes(t.deps).routes
      const routes = listed.map((r) => {
        const declared = (r.hooks as { policy?: RoutePolicyInput }).policy
        return { method: r.method, path: r.path, policy: declared === undefined ? DEFAULT_POLICY : routePolicy(declared) }
      })
      return { routes, table: new RouteTable(listed) }
    } finally {
      await t.close()
    }
  })()
  return table
}
