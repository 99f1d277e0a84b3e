/**
 * highperf's Go-style concurrency toolkit. Everything here is dependency-free apart from
 * `src/errors.ts`; see docs/sync.md for each primitive next to its Go counterpart.
 *
 * @example
 * ```ts
 * import { Semaphore, ErrGroup, Channel, select, recvFrom, withTimeout, retry } from '../sync/index.ts'
 * ```
 */
export { Semaphore } from './semaphore.ts'
export { WaitGroup } from './wait-group.ts'
export { ErrGroup, type ErrGroupOptions } from './err-group.ts'
export { Channel, ChannelClosedError, type ReceiveResult } from './channel.ts'
export { select, recvFrom, sendTo, type RecvCase, type SendCase, type SelectCase, type SelectOptions, type SelectResult, type SelectNone } from './select.ts'
export { withTimeout, sleep, type WithTimeoutOptions } from './timeout.ts'
export { TokenBucket } from './token-bucket.ts'
export { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.ts'
export { retry, backoffDelay, DEFAULT_MAX_BACKOFF_MS, type Jitter, type RetryOptions } from './retry.ts'
