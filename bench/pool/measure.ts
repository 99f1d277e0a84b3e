/**
 * The pipelined throughput measure shared by bench/pool's benchmark and its quick A/B script.
 *
 * @example
 * ```ts
 * const perSecond = await pipelined(() => pool.run('echo', '{"v":1}'), 1000, 1000)
 * ```
 */

/** Tasks per second for `ms` with `inflight` callers, each awaiting its task and starting the next. */
export async function pipelined(fn: () => Promise<unknown>, ms: number, inflight: number): Promise<number> {
  let done = 0
  const end = performance.now() + ms
  const caller = async () => { while (performance.now() < end) { await fn(); done++ } }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: inflight }, caller))
  return done / ((performance.now() - t0) / 1000)
}
