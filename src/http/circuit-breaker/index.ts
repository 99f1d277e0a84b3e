/**
 * A circuit breaker per route template: after `CB_FAILURE_THRESHOLD` consecutive failures (5xx
 * answers or thrown errors; never 4xx, which are the client's fault, nor the outcomes in
 * {@link NEUTRAL_CODES}) the route's breaker opens
 * for `CB_OPEN_DURATION` and answers 503 `circuit_open` with `Retry-After` without running the
 * handler. Then one probe request goes through (half-open): its success closes the breaker, its
 * failure opens it again. A request whose client disconnected says nothing about the route's
 * health and releases a probe slot without a verdict. Health, readiness, metrics and the API
 * docs are exempt, and so are unmatched paths (no template, no breaker).
 *
 * The breaker is `src/sync/circuit-breaker.ts`, one per template (a bounded set: templates are
 * code, never user input). Admission happens in the front's `before` (the template is known before
 * the route runs); the verdict in `after`, which runs for every outcome, so a half-open breaker
 * cannot wait forever for its probe. Elysia's own refusals of a request (validation, malformed
 * body) are the client's fault and give no verdict either way.
 *
 * @example
 * ```ts
 * const breakers = circuitBreaker({ failureThreshold: 20, openDurationMs: 2000 })
 * stages.push(breakers)
 * breakers.states() // { '/users/:id': 'closed' }
 * ```
 */
import { isDocsRoute, isProbeRoute } from '../probe-paths.ts'
import { AppError } from '../../errors.ts'
import { CircuitBreaker, type BreakerState } from '../../sync/circuit-breaker.ts'
import { UNMATCHED_ROUTE, type Stage } from '../front/index.ts'

/** Settings of {@link circuitBreaker}. */
export interface CircuitBreakerPluginOptions {
  /** `CB_FAILURE_THRESHOLD`. */
  failureThreshold: number
  /** `CB_OPEN_DURATION`, ms. */
  openDurationMs: number
  /** Clock in ms (tests). */
  now?: () => number
  /** Every state change of a route's breaker (metrics: `circuit_breaker_state{route}`). */
  onStateChange?: (route: string, state: BreakerState) => void
  /** Every request refused by an open breaker (metrics: `circuit_breaker_rejections_total{route}`). */
  onRejected?: (route: string) => void
}

/**
 * Error codes that say nothing about a route's health, so they neither open nor close its breaker:
 * - load shedding (`queue_full`, `overloaded`, `shutting_down`, `pool_closed`): the server refused
 *   quickly and on purpose; counting it would turn a burst of overload into an outage of the route;
 * - a task's own outcome on the input and time budget its client chose (`task_failed`,
 *   `task_timeout`): every task shares the one template `/tasks/:name`, so counting them would let
 *   one client (a task that throws on its input, `?timeoutMs=1`) open the breaker for everyone.
 */
export const NEUTRAL_CODES: ReadonlySet<string> = new Set(['queue_full', 'overloaded', 'shutting_down', 'pool_closed', 'task_failed', 'task_timeout'])

/**
 * Routes whose deadline the client sets (`?timeoutMs=`): their 504 is the client's choice, not a
 * sign of the route's health.
 */
const CLIENT_DEADLINE_ROUTES: ReadonlySet<string> = new Set(['/tasks/:name'])

/**
 * What an answer says about its route: `failure` (a 5xx the route caused), `none` (the client left,
 * Elysia refused the request before the handler ran (validation, parse: errors that are not
 * AppErrors, below 500), or a {@link NEUTRAL_CODES} outcome) or `success`.
 *
 * @example verdictOf(500, new Error('boom'), '/users/:id') // 'failure'
 */
export function verdictOf(status: number, error: unknown, route: string): 'failure' | 'none' | 'success' {
  if (status === 499) return 'none'
  if (status < 500) return error !== undefined && error !== null && !(error instanceof AppError) ? 'none' : 'success'
  if (error instanceof AppError && NEUTRAL_CODES.has(error.code)) return 'none'
  if (status === 504 && CLIENT_DEADLINE_ROUTES.has(route)) return 'none'
  return 'failure'
}

/**
 * Routes without a breaker.
 *
 * @example isBreakerExempt('/healthz') // true
 */
export function isBreakerExempt(route: string): boolean {
  return isProbeRoute(route) || isDocsRoute(route)
}

/**
 * Stage: see the module comment. It exposes `states()` and `breaker(route)`.
 *
 * @example stages.push(circuitBreaker({ failureThreshold: 20, openDurationMs: 2000, onStateChange: (r, s) => metrics.breakerState(r, s) }))
 */
export function circuitBreaker(options: CircuitBreakerPluginOptions): Stage & { states(): Record<string, BreakerState>; breaker(route: string): CircuitBreaker } {
  const breakers = new Map<string, CircuitBreaker>()
  // The breaker that admitted a request, waiting for its verdict in `after`, kept on the
  // Request under a per-stage symbol rather than in a WeakMap: a property write is ~60 ns, a
  // WeakMap set ~170 ns plus GC work per entry (bench/middleware, "+ circuit breaker"). Cleared by
  // writing undefined, never `delete` (which would turn the object into a slow dictionary).
  const ADMITTED = Symbol('highperf.breaker')
  type Admitted = Request & { [ADMITTED]?: CircuitBreaker | undefined }
  const { onStateChange, onRejected } = options

  const breakerOf = (route: string): CircuitBreaker => {
    let b = breakers.get(route)
    if (b === undefined) {
      b = new CircuitBreaker({
        failureThreshold: options.failureThreshold,
        openDurationMs: options.openDurationMs,
        ...(options.now !== undefined ? { now: options.now } : {}),
        ...(onStateChange !== undefined ? { onStateChange: (s: BreakerState) => onStateChange(route, s) } : {}),
      })
      breakers.set(route, b)
      onStateChange?.(route, 'closed')
    }
    return b
  }

  return {
    name: 'circuit-breaker',
    before(state) {
      const route = state.route
      if (route === UNMATCHED_ROUTE || isBreakerExempt(route)) return
      const b = breakerOf(route)
      if (!b.allow()) {
        onRejected?.(route)
        const retryAfter = Math.max(1, Math.ceil(b.retryAfterMs() / 1000))
        throw new AppError('circuit_open', `The circuit breaker of ${route} is open; retry in ${retryAfter} s`, { retryAfter })
      }
      ;(state.request as Admitted)[ADMITTED] = b
    },
    after(state, response) {
      const request = state.request as Admitted
      const b = request[ADMITTED]
      if (b === undefined) return
      request[ADMITTED] = undefined
      const verdict = verdictOf(response.status, state.error, state.route)
      if (verdict === 'failure') b.failure()
      else if (verdict === 'success') b.success()
      else b.abandon()
    },
    /** State of every route's breaker that has seen traffic. */
    states(): Record<string, BreakerState> {
      const out: Record<string, BreakerState> = {}
      for (const [route, b] of breakers) out[route] = b.state
      return out
    },
    /** The breaker of a route template (created on first use). */
    breaker: breakerOf,
  }
}
