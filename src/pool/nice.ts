/**
 * Lowers the scheduling priority of the calling thread (Linux "nice"), so that on a machine with
 * fewer cores than busy threads the kernel gives the CPU to the main thread's event loop before
 * a worker's CPU-bound task. Each pool worker calls it for itself at start (`nice` option,
 * `WORKER_NICE`): a thread can only lower its own priority without privileges, and only the
 * thread knows its own id.
 *
 * Linux: the thread id is the last part of `readlink /proc/thread-self` (`<pid>/task/<tid>`),
 * and `setpriority(PRIO_PROCESS, tid, n)` (`os.setPriority`) applies to that one thread.
 * Elsewhere (no /proc/thread-self) it does nothing: `os.setPriority` there would renice the whole
 * process, main thread included, which is the opposite of the point.
 *
 * Why: bench/tasks-http measured `/healthz` p99 at 5.46 ms with 2 workers at nice 0 on 2 cores
 * running ~5 ms tasks (each wake-up of the event loop waited for a worker's time slice); 2.29 ms at
 * nice 5 (bench/README.md).
 *
 * @example
 * ```ts
 * lowerThreadPriority(10) // { tid: 12345, nice: 10 } on Linux, undefined elsewhere
 * ```
 */
import { readlinkSync } from 'node:fs'
import { availableParallelism, getPriority, setPriority } from 'node:os'

/** The calling thread's kernel thread id, or undefined off Linux. */
export function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
    return Number.isInteger(tid) && tid > 0 ? tid : undefined
  } catch {
    return undefined
  }
}

/**
 * Sets the calling thread's nice value to `nice` (0..19) when that lowers its priority. Returns
 * the thread id and its nice value afterwards, or undefined when unsupported or refused.
 */
export function lowerThreadPriority(nice: number): { tid: number; nice: number } | undefined {
  const tid = threadId()
  if (tid === undefined) return undefined
  try {
    const n = Math.max(0, Math.min(19, Math.trunc(nice)))
    if (n > getPriority(tid)) setPriority(tid, n)
    return { tid, nice: getPriority(tid) }
  } catch {
    return undefined
  }
}

/**
 * The nice value workers take when the workers leave no core to the main thread. At nice 5 a
 * worker weighs about a third of the main thread in the kernel's scheduler: bench/tasks-http's
 * `/healthz` p99 with 2 workers on 2 cores went from 5.46 ms to 2.29 ms (1.72 ms at nice 10,
 * which starves workers more against other processes: a stress test ran 40× slower once).
 */
export const DEFAULT_WORKER_NICE = 5

/**
 * The `nice` default: DEFAULT_WORKER_NICE when `workers` ≥ the cores available (the event loop
 * has to share a core with a worker), else 0. With a core to spare the event loop needs no help,
 * and niced workers only lose CPU to other processes on the machine (bench/pool, 1 worker on
 * 2 cores with other work running: 0.1–0.6 M echo/s at nice 10 against 0.8–0.9 M at nice 0).
 *
 * @example autoNice(2) // 5 on a 2-core machine, 0 on an 8-core one
 */
export function autoNice(workers: number): number {
  return workers >= availableParallelism() ? DEFAULT_WORKER_NICE : 0
}
