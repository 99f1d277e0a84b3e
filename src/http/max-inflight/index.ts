/**
 * Load shedding: with `MAX_INFLIGHT=N`, at most N requests are handled at once; the next one is
 * answered 503 `overloaded` with `Retry-After: 1` straight away, before its body is read, instead
 * of queueing behind the others and timing out late. Health, readiness and metrics are never shed
 * (a load balancer must still see the instance alive while it sheds).
 *
 * A request counts from `onRequest` until Elysia's `afterResponse`, which runs on every outcome
 * (success, thrown error, early answer of a `beforeHandle` hook) EXCEPT an early answer
 * returned by an `onRequest` hook: hooks mounted after this plugin must throw an `AppError`
 * rather than return a response from `onRequest`, or the slot is never given back.
 * `MAX_INFLIGHT=0` mounts nothing.
 *
 * The pool's own cap (`QUEUE_LIMIT`) answers 503 `queue_full` by itself: this plugin guards the
 * event loop as a whole, the pool guards the workers.
 *
 * @example
 * ```ts
 * const shed = maxInflight({ limit: config.maxInflight })
 * app.use(shed)
 * shed.stats() // { inflight: 3, limit: 64, shed: 0 }
 * ```
 */
import { isProbePath } from '../probe-paths.ts'
import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import { afterResponse, onRequestHook } from '../guard-hooks.ts'

/** Settings of {@link maxInflight}. */
export interface MaxInflightOptions {
  /** Concurrent requests allowed; 0 disables the plugin. */
  limit: number
  /** Called once per shed request (the metrics part counts `http_requests_shed_total`). */
  onShed?: () => void
}

/** A snapshot for /metrics and tests. */
export interface MaxInflightStats {
  inflight: number
  limit: number
  shed: number
}


/**
 * Elysia plugin: see the module comment. The returned plugin has a `stats()` method.
 *
 * @example app.use(maxInflight({ limit: 256, onShed: () => metrics.shed('max_inflight') }))
 */
export function maxInflight(options: MaxInflightOptions) {
  const limit = options.limit
  const onShed = options.onShed
  let inflight = 0
  let shed = 0
  // Which requests were counted: a rejected or exempt request is not, and afterResponse must
  // not decrement for it. A flag on the Request under a per-plugin symbol: a property write is
  // ~60 ns where a WeakSet add was ~170 ns plus GC work per entry (bench/middleware, "+ max-inflight").
  const COUNTED = Symbol('highperf.inflight')
  type Counted = Request & { [COUNTED]?: boolean }
  const plugin = new Elysia({ name: 'highperf/max-inflight', seed: limit })
  const stats = (): MaxInflightStats => ({ inflight, limit, shed })
  if (limit <= 0) return Object.assign(plugin, { stats })
  plugin
    .onRequest(onRequestHook(({ request, path }) => {
      if (isProbePath(path)) return
      if (inflight >= limit) {
        shed++
        onShed?.()
        // Thrown (not returned) so afterResponse, the access log and metrics still see it.
        throw new AppError('overloaded', `More than ${limit} requests in flight; retry later`, { retryAfter: 1 })
      }
      inflight++
      ;(request as Counted)[COUNTED] = true
    }))
    .onAfterResponse({ as: 'global' }, afterResponse(({ request }) => {
      const r = request as Counted
      if (r[COUNTED] === true) {
        r[COUNTED] = false
        inflight--
      }
    }))
  return Object.assign(plugin, { stats })
}
