/**
 * Keeps a thread's start-up code out of the JIT. Import it FIRST in a thread's entry module
 * (src/main.ts, src/pool/worker.ts): ES modules run in import order, so this body runs before any
 * other module body of that thread and scales JavaScriptCore's tier-up thresholds ×20 for it
 * (`Bun.unsafe.setJITPolicy`). Start-up code runs once (module bodies, building the app, compiling
 * the task validators), so JIT-compiling it only cost memory: at idle, ~1.5 MB in the main thread
 * and ~1.5 MB per worker, plus ~2 MB of the executable's optimizing-compiler pages once any
 * thread tiers up to the DFG (a TypeBox module body did, in every worker). The thread calls
 * {@link endStartupJit} when its start-up is over, so the code that serves requests and runs
 * tasks is compiled as usual. docs/operations.md#startup-time-and-memory has the figures.
 *
 * @example
 * ```ts
 * import './startup-jit.ts' // first import of the entry module
 * // ... start ...
 * endStartupJit()
 * ```
 */

/** The tier-up threshold scale while a thread starts (1 is JavaScriptCore's normal policy). */
export const STARTUP_JIT_POLICY = 20

Bun.unsafe.setJITPolicy(STARTUP_JIT_POLICY)

/**
 * Puts the calling thread back on the normal JIT policy. Call it once, when start-up is over.
 *
 * @example
 * ```ts
 * await startServer(config)
 * endStartupJit()
 * ```
 */
export function endStartupJit(): void {
  Bun.unsafe.setJITPolicy(1)
}
