/**
 * The parts of prom-client highperf uses, loaded file by file.
 *
 * prom-client's index also loads its Pushgateway (`node:http`, `node:https`) and the cluster
 * aggregator (`node:cluster`), which a process running alone never uses: at start that was ~5 ms
 * of module loading and ~1 MB of resident memory in the binary
 * (docs/operations.md#startup-time-and-memory). The aggregator is loaded only by
 * {@link loadAggregatorRegistry}, i.e. only in a cluster (src/metrics/cluster.ts).
 * Its `lib/` files are CommonJS without type declarations, so each is typed here as the
 * index's export of the same name (the index re-exports exactly these objects).
 *
 * @example
 * ```ts
 * import { Counter, Registry } from './prom.ts'
 * const registry = new Registry()
 * new Counter({ name: 'x_total', help: 'x', registers: [registry] })
 * ```
 */
import type * as Prom from 'prom-client'

/** prom-client's `Registry`. @example new Registry() */
export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry
/** A registry instance. */
export type Registry = Prom.Registry
/** prom-client's `Counter`. @example new Counter({ name: 'a_total', help: 'a', registers: [registry] }) */
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter
/** A counter instance. */
export type Counter<T extends string = string> = Prom.Counter<T>
/** prom-client's `Gauge`. @example new Gauge({ name: 'a', help: 'a', registers: [registry] }) */
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge
/** A gauge instance. */
export type Gauge<T extends string = string> = Prom.Gauge<T>
/** prom-client's `Histogram`. @example new Histogram({ name: 'a_seconds', help: 'a', registers: [registry] }) */
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram
/** A histogram instance. */
export type Histogram<T extends string = string> = Prom.Histogram<T>
/** prom-client's `Summary`. @example new Summary({ name: 'a_seconds', help: 'a', registers: [registry] }) */
export const Summary = require('prom-client/lib/summary') as typeof Prom.Summary
/** A summary instance. */
export type Summary<T extends string = string> = Prom.Summary<T>
/** prom-client's `collectDefaultMetrics`. @example collectDefaultMetrics({ register: registry }) */
export const collectDefaultMetrics = require('prom-client/lib/defaultMetrics') as typeof Prom.collectDefaultMetrics

/** prom-client's `AggregatorRegistry` class (the cluster aggregator). */
export type AggregatorRegistryClass = typeof Prom.AggregatorRegistry

/**
 * prom-client's cluster aggregator, loaded on first call only: `lib/cluster` needs `./registry`,
 * `./util` and `./metricAggregators` (the first two already loaded here) and `node:cluster`,
 * which it requires lazily when an instance is constructed.
 *
 * @example const AggregatorRegistry = loadAggregatorRegistry(); new AggregatorRegistry()
 */
export function loadAggregatorRegistry(): AggregatorRegistryClass {
  return require('prom-client/lib/cluster') as AggregatorRegistryClass
}
