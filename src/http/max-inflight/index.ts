/**
 * Load shedding: with `MAX_INFLIGHT=N`, at most N requests are handled at once; the next one is
 * answered 503 `overloaded` with `Retry-After: 1` straight away, before its body is read, instead
 * of queueing behind the others and timing out late. Routes whose policy exempts them
 * (`exempt.shed`: health, readiness and metrics, src/routes/policy.ts) are never shed (a load
 * balancer must still see the instance alive while it sheds).
 *
 * A request counts from this stage's `before` until the front hands its answer to Bun (the
 * stage's `after`, which runs on every outcome: success, error, a later stage's refusal, 404).
 * A streamed or sendfile body is still being written after that. `MAX_INFLIGHT=0` adds no work.
 *
 * The pool's own cap (`QUEUE_LIMIT`) answers 503 `queue_full` by itself: this stage guards the
 * event loop as a whole, the pool guards the workers.
 *
 * @example
 * ```ts
 * const shed = maxInflight({ limit: config.maxInflight })
 * createFront(app, [..., shed, ...], options)
 * shed.stats() // { inflight: 3, limit: 64, shed: 0 }
 * ```
 */
import { AppError } from '../../errors.ts'
import type { Stage } from '../front/index.ts'

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
 * Stage: see the module comment. It has a `stats()` method.
 *
 * @example stages.push(maxInflight({ limit: 256, onShed: () => metrics.shed('max_inflight') }))
 */
export function maxInflight(options: MaxInflightOptions): Stage & { stats(): MaxInflightStats } {
  const limit = options.limit
  const onShed = options.onShed
  let inflight = 0
  let shed = 0
  const stats = (): MaxInflightStats => ({ inflight, limit, shed })
  if (limit <= 0) return { name: 'max-inflight', stats }
  return {
    name: 'max-inflight',
    stats,
    before(state) {
      if (state.policy.exempt.shed) return
      if (inflight >= limit) {
        shed++
        onShed?.()
        throw new AppError('overloaded', `More than ${limit} requests in flight; retry later`, { retryAfter: 1 })
      }
      inflight++
      // Which requests were counted: a refused or exempt request is not, and `after` must not
      // give back a slot for it.
      state.counted = true
    },
    after(state) {
      if (state.counted) {
        state.counted = false
        inflight--
      }
    },
  }
}
