/**
 * Node's `TracingChannel.hasSubscribers` for Bun 1.4.5, whose `node:diagnostics_channel` lacks it.
 *
 * Why: ioredis 6 (the client of BullMQ and of the Redis rate limiter) traces every command through
 * `diagnostics_channel.tracingChannel('ioredis:command')` unless `channel.hasSubscribers === false`.
 * On Bun the property is `undefined`, so with nobody listening ioredis still, for each command,
 * builds a trace context (every argument of an EVALSHA turned into a string: keys, the job's JSON,
 * its msgpack options) and wraps the reply in `tracePromise` with its five channel publishes.
 * Node defines the getter as "any of the five channels has a subscriber"; this adds exactly that
 * to Bun's prototype (only if missing), so an APM that subscribes still gets its traces.
 *
 * What it buys: 1.90 -> 0.48 µs of CPU per command (`bun bench/jobs/ioredis-tracing.ts`, a
 * moveToFinished-sized command); with 2-3 commands per job, ~1 % of a BullMQ job's CPU
 * (bench/README.md, "BullMQ on Redis: ioredis tracing, batched adds, the ceiling").
 *
 * @example
 * ```ts
 * fillTracingChannelHasSubscribers()
 * dc.tracingChannel('ioredis:command').hasSubscribers // false while nobody subscribes
 * ```
 */
import * as dc from 'node:diagnostics_channel'

/** The five channels of a tracing channel (Node's names). */
const PARTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const

type Parts = Record<(typeof PARTS)[number], { hasSubscribers: boolean } | undefined>

/**
 * Adds `hasSubscribers` to `TracingChannel.prototype` when the runtime lacks it (idempotent).
 * Returns true if it was added now.
 *
 * @example fillTracingChannelHasSubscribers() // true on Bun 1.4.5, false on Node ≥ 22 and on a second call
 */
export function fillTracingChannelHasSubscribers(): boolean {
  if (typeof dc.tracingChannel !== 'function') return false
  const proto = Object.getPrototypeOf(dc.tracingChannel('highperf:probe')) as object
  if ('hasSubscribers' in proto) return false
  Object.defineProperty(proto, 'hasSubscribers', {
    configurable: true,
    get(this: Parts): boolean {
      return PARTS.some((p) => this[p]?.hasSubscribers === true)
    },
  })
  return true
}
