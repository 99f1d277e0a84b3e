/**
 * Route policy: what the guards of the front do for one route, declared on the route itself the
 * way Fastify declares per-route options (`bodyLimit`, `handlerTimeout`, `config`) on its routes.
 *
 * A route states its policy with the `policy` option that {@link policyOption} adds to Elysia's
 * route options; the front's route table (src/http/front/router.ts) reads it from `app.routes`
 * once, at start, and hands every request its route's policy with its template. So the stages
 * never name a route: the deadline, max-inflight, the rate limiter, auth and the breaker read
 * `state.policy` (src/http/request-state.ts), and a renamed or new route keeps or gets its policy
 * where it is declared. A route that declares nothing gets {@link DEFAULT_POLICY}; a request that
 * matches no route gets {@link UNMATCHED_POLICY}.
 *
 * Why an Elysia macro: it is Elysia's typed way to add a route option. The macro adds no hook
 * (it returns none), so a route's compiled handler is the same with or without a policy; the
 * option stays in the route's `hooks`, where `app.routes` lists it. A plugin whose routes we do
 * not write (the OpenAPI plugin's) gets its policy from {@link withPolicy} where it is mounted.
 * The policies of highperf's routes are in src/routes/policy.ts.
 *
 * @example
 * ```ts
 * new Elysia().use(policyOption)
 *   .post('/tasks/:name', run, { policy: { deadline: 'task', clientSetsDeadline: true } })
 *   .get('/healthz', () => 'ok', { policy: { exempt: { shed: true, rateLimit: true, auth: true, breaker: true } } })
 * ```
 */
import { Elysia, type AnyElysia } from 'elysia'

/**
 * Which deadline a route gets (the deadline stage turns it into milliseconds from the config):
 * `request` is `REQUEST_TIMEOUT`, `hot-read` 0.8 × it, `task` `TASK_TIMEOUT`, `llm` `LLM_TIMEOUT`,
 * `none` no deadline (client disconnect only).
 */
export type DeadlineClass = 'request' | 'hot-read' | 'task' | 'llm' | 'none'

/** A deadline in ms, or `'none'` for routes bounded only by client disconnect. */
export type DeadlineRule = number | 'none'

/** The guards a route is exempt from. */
export interface Exemptions {
  /** Max-inflight never sheds it (a load balancer must see the instance alive while it sheds). */
  readonly shed: boolean
  /** The rate limiter never counts it. */
  readonly rateLimit: boolean
  /** It never needs the API token, even with `AUTH_READS`. */
  readonly auth: boolean
  /** It has no circuit breaker. */
  readonly breaker: boolean
}

/** The guards' settings for one route. */
export interface RoutePolicy {
  /** Its deadline: a class resolved from the config, or milliseconds. */
  readonly deadline: DeadlineClass | number
  /**
   * The client sets the deadline with `?timeoutMs=N` (up to `TASK_TIMEOUT`), so a 504 of this
   * route is the client's choice and says nothing about the route's health (the breaker).
   */
  readonly clientSetsDeadline: boolean
  readonly exempt: Exemptions
}

/** A policy as a route declares it: every field optional, the rest from {@link DEFAULT_POLICY}. */
export interface RoutePolicyInput {
  readonly deadline?: DeadlineClass | number
  readonly clientSetsDeadline?: boolean
  readonly exempt?: Partial<Exemptions>
}

/**
 * What a route that declares nothing gets: the default deadline and every guard.
 *
 * @example routes.match('POST', '/users').policy === DEFAULT_POLICY // true: /users declares none
 */
export const DEFAULT_POLICY: RoutePolicy = Object.freeze({
  deadline: 'request',
  clientSetsDeadline: false,
  exempt: Object.freeze({ shed: false, rateLimit: false, auth: false, breaker: false }),
})

/**
 * The policy of a request that matches no route: every guard but the breaker (no template, no
 * breaker: a scan of random paths cannot open or probe one).
 *
 * @example routes.match('GET', '/nope').policy === UNMATCHED_POLICY // true
 */
export const UNMATCHED_POLICY: RoutePolicy = Object.freeze({
  deadline: 'request',
  clientSetsDeadline: false,
  exempt: Object.freeze({ shed: false, rateLimit: false, auth: false, breaker: true }),
})

/**
 * The `route` (template) of requests that match no route: one label for metrics and logs.
 *
 * @example if (state.route === UNMATCHED_ROUTE) return // no template: nothing to key by
 */
export const UNMATCHED_ROUTE = 'unmatched'

/** What the front's route table answers for a request: its route template and that route's policy. */
export interface RouteMatch {
  /** The route template (`/users/:id`), or {@link UNMATCHED_ROUTE}. */
  readonly template: string
  readonly policy: RoutePolicy
}

/**
 * The match of a request that matches no route (and of one the front refuses before routing).
 *
 * @example new RequestState(request, path, UNMATCHED, requestId, null, false, performance.now())
 */
export const UNMATCHED: RouteMatch = Object.freeze({ template: UNMATCHED_ROUTE, policy: UNMATCHED_POLICY })

const CLASSES: ReadonlySet<string> = new Set<DeadlineClass>(['request', 'hot-read', 'task', 'llm', 'none'])
const EXEMPTIONS: ReadonlySet<string> = new Set<keyof Exemptions>(['shed', 'rateLimit', 'auth', 'breaker'])

/**
 * The complete, frozen policy of a declaration, checked: a misspelt field or a wrong value is a
 * `TypeError` when the route table is built (at start), never a guard silently left on or off.
 *
 * @example routePolicy({ deadline: 'task', clientSetsDeadline: true }).exempt.auth // false
 */
export function routePolicy(declared: RoutePolicyInput, where = 'a route'): RoutePolicy {
  const fail = (what: string): never => {
    throw new TypeError(`The policy of ${where} is invalid: ${what}`)
  }
  if (declared === null || typeof declared !== 'object') fail('expected an object')
  for (const key of Object.keys(declared)) if (key !== 'deadline' && key !== 'clientSetsDeadline' && key !== 'exempt') fail(`unknown field '${key}'`)
  const deadline = declared.deadline ?? DEFAULT_POLICY.deadline
  if (typeof deadline === 'number' ? !(deadline > 0) : !CLASSES.has(deadline)) fail(`deadline must be one of ${[...CLASSES].join(', ')} or a positive number of ms`)
  const clientSetsDeadline = declared.clientSetsDeadline ?? false
  if (typeof clientSetsDeadline !== 'boolean') fail('clientSetsDeadline must be a boolean')
  const exempt = declared.exempt ?? {}
  if (exempt === null || typeof exempt !== 'object') fail('exempt must be an object')
  for (const [key, value] of Object.entries(exempt)) {
    if (!EXEMPTIONS.has(key)) fail(`unknown exemption '${key}'`)
    if (typeof value !== 'boolean') fail(`exempt.${key} must be a boolean`)
  }
  return Object.freeze({
    deadline,
    clientSetsDeadline,
    exempt: Object.freeze({ ...DEFAULT_POLICY.exempt, ...exempt }),
  })
}

/** The timeouts the deadline classes stand for (from the config), in ms. */
export interface DeadlineTimeouts {
  /** `REQUEST_TIMEOUT`: the `request` class; `hot-read` is 0.8 × it. */
  requestTimeout: number
  /** `TASK_TIMEOUT`: the `task` class, also the largest `?timeoutMs=` accepted. */
  taskTimeout: number
  /** `LLM_TIMEOUT`: the `llm` class. */
  llmTimeout: number
}

/**
 * The deadline of a route's policy (see docs/resilience.md for the table), before `?timeoutMs`.
 *
 * @example deadlineFor(routePolicy({ deadline: 'hot-read' }), { requestTimeout: 100, taskTimeout: 30_000, llmTimeout: 60_000 }) // 80
 */
export function deadlineFor(policy: RoutePolicy, timeouts: DeadlineTimeouts): DeadlineRule {
  const deadline = policy.deadline
  switch (deadline) {
    case 'request': return timeouts.requestTimeout
    // Hot reads answer from memory or one indexed row: a tighter bound frees their slot sooner.
    case 'hot-read': return Math.max(1, Math.round(timeouts.requestTimeout * 0.8))
    case 'task': return timeouts.taskTimeout
    case 'llm': return timeouts.llmTimeout
    case 'none': return 'none'
    default: return deadline
  }
}

/**
 * Elysia plugin adding the typed `policy` route option (see the module comment). `.use()` it in
 * every plugin whose routes declare a policy; it adds no hook and no per-request work.
 *
 * @example new Elysia({ name: 'highperf/routes/files' }).use(policyOption).get('/files/*', send, { policy: { deadline: 'none' } })
 */
export const policyOption = new Elysia({ name: 'highperf/route-policy' }).macro({
  // An empty hook, not undefined: Elysia stops applying a route's remaining macros at the first
  // that returns nothing.
  policy: (_declared: RoutePolicyInput) => ({}),
})

/**
 * Declares `policy` on every route `plugin` has registered that declares none, as if each had
 * the `policy` option: for a plugin mounted from outside routes/ (the API docs' `/swagger`,
 * `/swagger/json` and assets). Call it on the plugin before `.use()`-ing it: the parent copies each
 * route's options when it takes the plugin's routes. (An Elysia `guard` around the plugin would
 * declare it too, but puts the plugin in a sub-app, where the OpenAPI plugin sees only its own
 * routes and documents nothing else.)
 *
 * @example app.use(withPolicy(openapiDocs(), { deadline: 'none', exempt: { auth: true, breaker: true } }))
 */
export function withPolicy<T extends AnyElysia>(plugin: T, policy: RoutePolicyInput): T {
  for (const route of plugin.routes) {
    const hooks = route.hooks as { policy?: RoutePolicyInput }
    hooks.policy ??= policy
  }
  return plugin
}
