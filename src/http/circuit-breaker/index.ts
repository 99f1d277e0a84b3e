/**
 * A circuit breaker per route template: after `CB_FAILURE_THRESHOLD` consecutive failures (5xx
 * answers or thrown errors; never 4xx, which are the client's fault) the route's breaker opens
 * for `CB_OPEN_DURATION` and answers 503 `circuit_open` with `Retry-After` without running the
 * handler. Then one probe request goes through (half-open): its success closes the breaker, its
 * failure opens it again. A request whose client disconnected says nothing about the route's
 * health and releases a probe slot without a verdict. Health, readiness, metrics and the API
 * docs are exempt, and so are unmatched paths (no template, no breaker).
 *
 * The breaker is `src/sync/circuit-breaker.ts`, one per template (a bounded set: templates are
 * code, never user input). Admission happens in `beforeHandle` (the template is known; validation
 * already ran, so a 422 never touches the breaker); the verdict in `afterResponse`, which runs for
 * every outcome, so a half-open breaker cannot wait forever for its probe.
 *
 * @example
 * ```ts
 * const breakers = circuitBreaker({ failureThreshold: 20, openDurationMs: 2000 })
 * app.use(breakers)
 * breakers.states() // { '/users/:id': 'closed' }
 * ```
 */
import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import { CircuitBreaker, type BreakerState } from '../../sync/circuit-breaker.ts'
import { afterResponse, finalStatus } from '../guard-hooks.ts'

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
 * Routes without a breaker.
 *
 * @example isBreakerExempt('/healthz') // true
 */
export function isBreakerExempt(route: string): boolean {
  return route === '/healthz' || route === '/readyz' || route === '/metrics' || route === '/swagger' || route.startsWith('/swagger/')
}

/**
 * Elysia plugin: see the module comment. The plugin exposes `states()` and `breaker(route)`.
 *
 * @example app.use(circuitBreaker({ failureThreshold: 20, openDurationMs: 2000, onStateChange: (r, s) => metrics.breakerState(r, s) }))
 */
export function circuitBreaker(options: CircuitBreakerPluginOptions) {
  const breakers = new Map<string, CircuitBreaker>()
  // The breaker that admitted a request, waiting for its verdict in afterResponse, kept on the
  // Request under a per-plugin symbol rather than in a WeakMap: a property write is ~60 ns, a
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

  const plugin = new Elysia({ name: 'highperf/circuit-breaker', seed: { t: options.failureThreshold, d: options.openDurationMs } })
    .onBeforeHandle({ as: 'global' }, ({ request, route }) => {
      if (isBreakerExempt(route)) return
      const b = breakerOf(route)
      if (!b.allow()) {
        onRejected?.(route)
        const retryAfter = Math.max(1, Math.ceil(b.retryAfterMs() / 1000))
        throw new AppError('circuit_open', `The circuit breaker of ${route} is open; retry in ${retryAfter} s`, { retryAfter })
      }
      ;(request as Admitted)[ADMITTED] = b
    })
    .onAfterResponse({ as: 'global' }, afterResponse(({ request, set, responseValue, error }) => {
      const b = (request as Admitted)[ADMITTED]
      if (b === undefined) return
      ;(request as Admitted)[ADMITTED] = undefined
      const status = finalStatus(error, set, responseValue)
      if (status >= 500) b.failure()
      else if (status === 499) b.abandon()
      else b.success()
    }))

  return Object.assign(plugin, {
    /** State of every route's breaker that has seen traffic. */
    states(): Record<string, BreakerState> {
      const out: Record<string, BreakerState> = {}
      for (const [route, b] of breakers) out[route] = b.state
      return out
    },
    /** The breaker of a route template (created on first use). */
    breaker: breakerOf,
  })
}
