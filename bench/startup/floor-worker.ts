/**
 * An empty pool worker for bench/startup's floor (./floor.ts): it says it is up, collects its
 * start-up garbage once (as src/pool/worker.ts does) and waits, parked in `Atomics.wait`.
 *
 * @example
 * ```ts
 * new Worker(new URL('./floor-worker.ts', import.meta.url))
 * ```
 */
import { parentPort } from 'node:worker_threads'

parentPort?.postMessage('ready')
Bun.gc(true)
const parked = new Int32Array(new SharedArrayBuffer(4))
for (;;) Atomics.wait(parked, 0, 0, 1000)
