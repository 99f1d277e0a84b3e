/**
 * A circuit breaker per route template AND method (`GET /jobs` and `POST /jobs` have one each):
 * after `CB_FAILURE_THRESHOLD` consecutive failures of the server's own making the breaker opens
 * for `CB_OPEN_DURATION` and answers 503 `circuit_open` with `Retry-After` without running the
 * handler. Then one probe request goes through (half-open): its success closes the breaker, its
 * failure opens it again. Routes whose policy exempts them (`exempt.breaker`: health, readiness,
 * metrics and the API docs, src/routes/policy.ts) have none, and neither have unmatched paths (no
 * template, no breaker: their policy exempts them).
 *
 * What counts ({@link verdictOf}; docs/resilience.md#circuit-breaker has the table): a breaker
 * protects a dependency (a store, the pool, an upstream) from being hammered while it fails, so
 * only a 5xx the route produced while using it is a failure: an internal error (a bug, a store
 * that throws), a crashed worker, an upstream error. Nothing a client can choose is: no 4xx
 * (bad input, not found, too large, rate limited...), and no 5xx that is a deliberate refusal
 * (load shedding, {@link NEUTRAL_CODES}) or the client's own budget (a 504 on a route whose
 * policy lets the client set the deadline with `?timeoutMs`, or one it spent uploading its
 * body). Those give no verdict at all: they neither count toward opening nor close a half-open
 * breaker, so a flood of bad requests can neither open a breaker nor hold one closed. A 2xx/3xx
 * is a success.
 *
 * Why per method as well: the method decides the handler, so a route's GET and POST fail
 * independently (a read that trips a bug must not refuse every write), and a breaker opened by
 * whatever reaches one handler stays on that handler. Keys are bounded: templates are code, and
 * methods outside the standard set share one key per template.
 *
 * The breaker is `src/sync/circuit-breaker.ts`. Admission happens in the front's `before` (the
 * template is known before the route runs); the verdict in `after`, which runs for every
 * outcome, so a half-open breaker cannot wait forever for its probe.
 *
 * @example
 * ```ts
 * const breakers = circuitBreaker({ failureThreshold: 20, openDurationMs: 2000 })
 * stages.push(breakers)
 * breakers.states() // { 'GET /users/:id': 'closed' }
 * ```
 */
import { AppError } from '../../errors.ts'
import { CircuitBreaker, type BreakerState } from '../../sync/circuit-breaker.ts'
import type { Stage } from '../front/index.ts'
import type { RoutePolicy } from '../route-policy.ts'

/** Settings of {@link circuitBreaker}. */
export interface CircuitBreakerPluginOptions {
  /** `CB_FAILURE_THRESHOLD`. */
  failureThreshold: number
  /** `CB_OPEN_DURATION`, ms. */
  openDurationMs: number
  /** Clock in ms (tests). */
  now?: () => number
  /** Every state change of a breaker, by key (`GET /users/:id`; metrics: `circuit_breaker_state{route}`). */
  onStateChange?: (key: string, state: BreakerState) => void
  /** Every request refused by an open breaker, by key (metrics: `circuit_breaker_rejections_total{route}`). */
  onRejected?: (key: string) => void
}

/**
 * Error codes of 5xx answers that say nothing about a dependency's health, so they neither open
 * nor close a breaker:
 * - load shedding and refusals (`queue_full`, `overloaded`, `shutting_down`, `pool_closed`,
 *   `llm_not_configured`, and `circuit_open` from a dependency's own breaker, e.g. the LLM
 *   client's): the server refused quickly and on purpose; counting it would turn a burst of
 *   overload, or a setting, into an outage of the route;
 * - a task's own outcome on the input and time budget its client chose (`task_failed`,
 *   `task_timeout`): every task shares the one template `/tasks/:name`, so counting them would let
 *   one client (a task that throws on its input, `?timeoutMs=1`) open the breaker for everyone.
 */
export const NEUTRAL_CODES: ReadonlySet<string> = new Set([
  'queue_full', 'overloaded', 'shutting_down', 'pool_closed', 'llm_not_configured', 'circuit_open', 'task_failed', 'task_timeout',
])

/** Methods without a request body: their whole deadline is spent on the server's side. */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * What an answer says about the dependency behind its route: `failure` (a 5xx the server caused),
 * `success` (2xx/3xx) or `none`: every 4xx (the client's request was wrong, or refused before any
 * work: it proves nothing either way), a 499 (the client left), a {@link NEUTRAL_CODES} outcome,
 * and a 504 `deadline_exceeded` the client could cause: on a route whose policy lets it set the
 * deadline (`clientSetsDeadline`), or on a request with a body (uploading it slowly spends the
 * deadline before the handler runs).
 *
 * @example verdictOf(500, new Error('boom'), DEFAULT_POLICY, 'GET') // 'failure'
 * @example verdictOf(404, new AppError('not_found'), DEFAULT_POLICY, 'GET') // 'none'
 */
export function verdictOf(status: number, error: unknown, policy: RoutePolicy, method: string): 'failure' | 'none' | 'success' {
  if (status < 400) return 'success'
  if (status < 500) return 'none'
  if (error instanceof AppError) {
    if (NEUTRAL_CODES.has(error.code)) return 'none'
    if (error.code === 'deadline_exceeded' && (policy.clientSetsDeadline || !BODYLESS.has(method))) return 'none'
  }
  if (status === 504 && policy.clientSetsDeadline) return 'none'
  return 'failure'
}

/**
 * The method part of a breaker key: HEAD is GET's body-less twin (the same handler), standard
 * methods are themselves, anything else one shared `*` (a client-chosen token must not grow the
 * set of breakers).
 *
 * @example breakerMethod('HEAD') // 'GET'
 */
export function breakerMethod(method: string): string {
  switch (method) {
    case 'GET': case 'HEAD': return 'GET'
    case 'POST': case 'PUT': case 'PATCH': case 'DELETE': case 'OPTIONS': return method
    default: return '*'
  }
}

/**
 * Stage: see the module comment. It exposes `states()` and `breaker(method, route)`.
 *
 * @example stages.push(circuitBreaker({ failureThreshold: 20, openDurationMs: 2000, onStateChange: (key, s) => metrics.breakerState(key, s) }))
 */
export function circuitBreaker(options: CircuitBreakerPluginOptions): Stage & { states(): Record<string, BreakerState>; breaker(method: string, route: string): CircuitBreaker } {
  // key ("GET /users/:id") → breaker, for states() and breaker(); the per-request lookup goes
  // through `byMethod` (method → template → breaker), which needs no string built per request.
  const breakers = new Map<string, CircuitBreaker>()
  const byMethod = new Map<string, Map<string, CircuitBreaker>>()
  const { onStateChange, onRejected } = options

  const byKey = (key: string): CircuitBreaker => {
    let b = breakers.get(key)
    if (b === undefined) {
      b = new CircuitBreaker({
        failureThreshold: options.failureThreshold,
        openDurationMs: options.openDurationMs,
        ...(options.now !== undefined ? { now: options.now } : {}),
        ...(onStateChange !== undefined ? { onStateChange: (s: BreakerState) => onStateChange(key, s) } : {}),
      })
      breakers.set(key, b)
      onStateChange?.(key, 'closed')
    }
    return b
  }

  const breakerOf = (method: string, route: string): CircuitBreaker => {
    const m = breakerMethod(method)
    let routes = byMethod.get(m)
    if (routes === undefined) byMethod.set(m, (routes = new Map()))
    let b = routes.get(route)
    if (b === undefined) routes.set(route, (b = byKey(`${m} ${route}`)))
    return b
  }

  return {
    name: 'circuit-breaker',
    before(state) {
      if (state.policy.exempt.breaker) return
      const route = state.route
      const b = breakerOf(state.method, route)
      if (!b.allow()) {
        const key = `${breakerMethod(state.method)} ${route}`
        onRejected?.(key)
        const retryAfter = Math.max(1, Math.ceil(b.retryAfterMs() / 1000))
        throw new AppError('circuit_open', `The circuit breaker of ${key} is open; retry in ${retryAfter} s`, { retryAfter })
      }
      // The breaker that admitted the request waits for its verdict in `after`.
      state.breaker = b
    },
    after(state, response) {
      const b = state.breaker
      if (b === undefined) return
      state.breaker = undefined
      const verdict = verdictOf(response.status, state.error, state.policy, state.method)
      if (verdict === 'failure') b.failure()
      else if (verdict === 'success') b.success()
      else b.abandon()
    },
    /** State of every breaker that has seen traffic, by key (`GET /users/:id`). */
    states(): Record<string, BreakerState> {
      const out: Record<string, BreakerState> = {}
      for (const [key, b] of breakers) out[key] = b.state
      return out
    },
    /** The breaker of a method and route template (created on first use). */
    breaker: breakerOf,
  }
}
