/**
 * The metrics of several server processes on one host (`PROCESSES` > 1), merged into one scrape
 * with prom-client's `AggregatorRegistry` over node:cluster IPC.
 *
 * Two sides, both loading prom-client's cluster module only when called (a process running alone
 * never loads it, see prom.ts):
 * - every server process calls {@link joinCluster} once (createMetrics does, given `cluster`): it
 *   constructs an `AggregatorRegistry`, which is what installs the listener that answers the
 *   primary's requests, and points it at this instance's registry (never the global one).
 *   Without it the primary's request is never answered and prom-client gives up after 5 s
 *   ("Operation timed out", research pitfall 16, prometheus/client_js#501);
 * - the primary answers the bus topic `metrics` with {@link aggregateClusterMetrics}: it asks
 *   every connected server process for its registry as JSON and merges by each metric's
 *   `aggregator` (docs/observability.md#several-processes-one-scrape says which metric uses what).
 *
 * @example
 * ```ts
 * // in each server process (createMetrics({ cluster: { slot } }) does this)
 * joinCluster(registry)
 * // in the primary (src/cluster/): the answer to bus.askPrimary('metrics', …)
 * primaryAnswers.set('metrics', () => aggregateClusterMetrics())
 * ```
 */
import { loadAggregatorRegistry, type Registry } from './prom.ts'

/** The label that tells the series of one server process from another's: its slot, 1..PROCESSES. */
export const PROCESS_LABEL = 'process'

/**
 * How long the primary waits for every server process by default, ms: below prom-client's own
 * 5 s, so a process that never answers fails the scrape with this module's message, and below
 * {@link METRICS_ASK_TIMEOUT_MS}, so the error reaches the process that got the scrape.
 */
export const AGGREGATE_TIMEOUT_MS = 4000

/**
 * How long the process that got a scrape waits for the primary's merged text, ms; then 503
 * `metrics_unavailable`. Under Prometheus's default `scrape_timeout` (10 s).
 */
export const METRICS_ASK_TIMEOUT_MS = 5000

/**
 * Makes `registry` the one this process hands to the primary when it aggregates (a server process
 * of a cluster calls it once, before the primary may ask).
 *
 * @example joinCluster(metrics.registry)
 */
export function joinCluster(registry: Registry): void {
  const AggregatorRegistry = loadAggregatorRegistry()
  // The constructor installs this process's answering listener (idempotent); the instance itself is not used.
  new AggregatorRegistry()
  AggregatorRegistry.setRegistries([registry])
}

/** Options of {@link aggregateClusterMetrics}. */
export interface AggregateOptions {
  /** Give up after this many ms (default {@link AGGREGATE_TIMEOUT_MS}). */
  timeoutMs?: number
}

let primaryRegistry: { clusterMetrics(): Promise<string> } | undefined

/**
 * In the cluster primary: the host's metrics, every server process's registry merged (counters
 * and histograms summed, per-process series kept apart by their `process` label), as Prometheus
 * text. Rejects when some process has not answered within `timeoutMs` (a process that is still
 * starting, or one that never called {@link joinCluster}): a partial sum would read as counter
 * resets. Resolves with '' when no server process is connected.
 *
 * @example
 * ```ts
 * primaryAnswers.set('metrics', () => aggregateClusterMetrics())
 * const text = await aggregateClusterMetrics({ timeoutMs: 2000 })
 * ```
 */
export async function aggregateClusterMetrics(options: AggregateOptions = {}): Promise<string> {
  primaryRegistry ??= new (loadAggregatorRegistry())()
  const timeoutMs = options.timeoutMs ?? AGGREGATE_TIMEOUT_MS
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(
      `metrics: not every server process answered within ${timeoutMs} ms (one is starting, stuck, or never called joinCluster)`,
    )), timeoutMs)
  })
  try {
    return await Promise.race([primaryRegistry.clusterMetrics(), timeout])
  } finally {
    clearTimeout(timer)
  }
}
