/**
 * A consecutive-failures circuit breaker (the pattern of Go's `sony/gobreaker`), driven either
 * around a call (`execute`) or step by step (`allow` before, `success`/`failure` after), which is
 * what Elysia's `onBeforeHandle`/`onAfterHandle`/`onError` hooks need.
 *
 * States: `closed` lets everything through and counts consecutive failures; `failureThreshold` of
 * them open it. `open` refuses everything for `openDurationMs`. Then the first `allow()` moves to
 * `half_open` and admits exactly ONE probe; the probe's `success()` closes the breaker, its
 * `failure()` re-opens it for another `openDurationMs`. A probe that never reports (a caller that
 * forgot, a request lost) is presumed lost after `openDurationMs` and another probe is admitted,
 * so the breaker cannot stick in `half_open`. Results reported while `open` are ignored (they
 * come from calls admitted before it opened).
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failureThreshold: 20, openDurationMs: 2_000 })
 * const reply = await breaker.execute(() => fetch(upstream, { signal }))  // AppError('circuit_open') when open
 * ```
 */
import { AppError } from '../errors.ts'

/** The breaker's state, as exported to /metrics. */
export type BreakerState = 'closed' | 'open' | 'half_open'

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (>= 1). */
  failureThreshold: number
  /** How long it stays open before admitting a probe, in ms (> 0). */
  openDurationMs: number
  /** Clock in ms (default `performance.now`); inject one in tests. */
  now?: () => number
  /** Called on every state transition (metrics, logs). */
  onStateChange?: (s: BreakerState) => void
  /**
   * Which errors thrown inside `execute` count as failures (default: all). For the others
   * (e.g. a client abort, an upstream 404) the call is neutral: no failure, no success.
   */
  isFailure?: (err: unknown) => boolean
}

/** See the module comment. */
export class CircuitBreaker {
  readonly failureThreshold: number
  readonly openDurationMs: number
  readonly #now: () => number
  readonly #onStateChange: ((s: BreakerState) => void) | undefined
  readonly #isFailure: ((err: unknown) => boolean) | undefined
  #state: BreakerState = 'closed'
  #failures = 0
  #openedAt = 0
  #probing = false
  #probeAt = 0

  /**
   * @example
   * ```ts
   * const b = new CircuitBreaker({ failureThreshold: 5, openDurationMs: 1_000, onStateChange: (s) => gauge.set(STATE[s]) })
   * ```
   */
  constructor(opts: CircuitBreakerOptions) {
    if (!Number.isInteger(opts.failureThreshold) || opts.failureThreshold < 1) throw new RangeError(`failureThreshold must be a positive integer, got ${opts.failureThreshold}`)
    if (!(opts.openDurationMs > 0) || !Number.isFinite(opts.openDurationMs)) throw new RangeError(`openDurationMs must be a positive number, got ${opts.openDurationMs}`)
    this.failureThreshold = opts.failureThreshold
    this.openDurationMs = opts.openDurationMs
    this.#now = opts.now ?? (() => performance.now())
    this.#onStateChange = opts.onStateChange
    this.#isFailure = opts.isFailure
  }

  /** Current state. It changes only through calls: an expired `open` reads `open` until the next `allow()`. */
  get state(): BreakerState {
    return this.#state
  }

  /** Consecutive failures counted while closed. */
  get failures(): number {
    return this.#failures
  }

  /**
   * Asks to run one call. True in `closed`; false in `open` until `openDurationMs` passed, then
   * true exactly once (the probe); false in `half_open` while the probe is out.
   *
   * @example
   * ```ts
   * if (!breaker.allow()) throw new AppError('circuit_open', undefined, { retryAfter: Math.ceil(breaker.retryAfterMs() / 1000) })
   * ```
   */
  allow(): boolean {
    if (this.#state === 'closed') return true
    const now = this.#now()
    if (this.#state === 'open') {
      if (now - this.#openedAt < this.openDurationMs) return false
      this.#set('half_open')
    } else if (this.#probing && now - this.#probeAt < this.openDurationMs) {
      return false
    }
    this.#probing = true
    this.#probeAt = now
    return true
  }

  /**
   * Reports a call admitted by `allow()` as successful: resets the failure count; closes a
   * half-open breaker.
   *
   * @example
   * ```ts
   * onAfterHandle(() => breaker.success())
   * ```
   */
  success(): void {
    if (this.#state === 'open') return
    this.#failures = 0
    if (this.#state === 'half_open') {
      this.#probing = false
      this.#set('closed')
    }
  }

  /**
   * Reports a failed call: counts toward the threshold when closed; re-opens when half-open.
   *
   * @example
   * ```ts
   * onError(({ error }) => { if (isServerFault(error)) breaker.failure() })
   * ```
   */
  failure(): void {
    if (this.#state === 'open') return
    if (this.#state === 'closed' && ++this.#failures < this.failureThreshold) return
    this.#open()
  }

  /**
   * Reports that an admitted call ended without saying anything about health (e.g. the client
   * disconnected): a half-open probe slot is freed for the next caller; nothing else changes.
   *
   * @example
   * ```ts
   * request.signal.addEventListener('abort', () => breaker.abandon())
   * ```
   */
  abandon(): void {
    if (this.#state === 'half_open') this.#probing = false
  }

  /**
   * Milliseconds until `allow()` may say yes again (0 when it would now). Feeds `Retry-After`.
   *
   * @example
   * ```ts
   * const retryAfter = Math.max(1, Math.ceil(breaker.retryAfterMs() / 1000))
   * ```
   */
  retryAfterMs(): number {
    if (this.#state === 'closed') return 0
    const now = this.#now()
    if (this.#state === 'open') return Math.max(0, this.#openedAt + this.openDurationMs - now)
    return this.#probing ? Math.max(0, this.#probeAt + this.openDurationMs - now) : 0
  }

  /**
   * Runs `fn` under the breaker: throws `AppError('circuit_open')` (503, with `retryAfter` in
   * seconds) without calling `fn` when not allowed; otherwise reports the outcome and returns or
   * rethrows `fn`'s.
   *
   * @example
   * ```ts
   * const res = await breaker.execute(() => fetch(url, { signal }))
   * ```
   */
  async execute<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.allow()) {
      throw new AppError('circuit_open', undefined, { retryAfter: Math.max(1, Math.ceil(this.retryAfterMs() / 1000)) })
    }
    let value: T
    try {
      value = await fn()
    } catch (err) {
      if (this.#isFailure === undefined || this.#isFailure(err)) this.failure()
      else this.abandon()
      throw err
    }
    this.success()
    return value
  }

  #open(): void {
    this.#openedAt = this.#now()
    this.#probing = false
    this.#failures = 0
    this.#set('open')
  }

  #set(s: BreakerState): void {
    if (s === this.#state) return
    this.#state = s
    this.#onStateChange?.(s)
  }
}
