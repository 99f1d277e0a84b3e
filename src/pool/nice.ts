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
 * Why it works (EEVDF, Linux ≥ 6.6): a thread woken up runs at once only if it is "eligible", i.e.
 * has not had more than its weighted share lately; the event loop has had more each time it
 * handled a burst while a worker waited, and stays ineligible until the worker has run that burst
 * × the worker's weight / its own. If it wakes meanwhile (the next request), it waits for the next
 * tick (4 ms at HZ=250). A worker's weight at nice 5 is a third of the main thread's, so the window
 * is a third as long. docs/pool.md "Worker priority" has the measurements and what else was tried.
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
 * The nice value workers take when the workers leave no core to the main threads: a worker then
 * weighs about a third of the main thread in the kernel's scheduler. bench/tasks-http/priority.ts
 * (docs/pool.md "Worker priority", paced `/healthz` while every worker runs tasks, 1 core): main
 * thread run delay 82 µs per time slice at nice 0, 25–28 at nice 5, 14 at nice 10; p99 5.3 ms at
 * nice 0, 3.7–4.5 at nice 5, 3.4 at nice 10. The cost, a worker next to a busy loop of its own
 * scheduling group: 745 tasks/s at nice 0, 374 at nice 5, 148 at nice 10 (6 of 493 at nice 19,
 * 2 as SCHED_IDLE; a stress test once ran 40× slower at nice 10), which is why 5 stays the default.
 */
export const DEFAULT_WORKER_NICE = 5

/**
 * The `nice` default: DEFAULT_WORKER_NICE when `workers`, the pool workers of every server process
 * on this host (WORKERS × PROCESSES for the server), are at least the `cpus` available, so that
 * they leave no core to the main threads; else 0. With a core to spare the event loops need no
 * help, and niced workers only lose CPU to other work in their scheduling group (bench/pool,
 * 1 worker on 2 cores with other work running: 0.1–0.6 M echo/s at nice 10 against 0.8–0.9 M at
 * nice 0). Counting every process matters: PROCESSES=2 on 2 cores runs 1 worker per process,
 * and counted per process that left the workers at nice 0: bench/tasks-http/priority.ts "all
 * cores", paced `/healthz` p99 12.3 ms before, 5.0 ms with the workers of both processes counted
 * (main threads' run delay 204 → 83 µs per time slice; docs/pool.md "Worker priority").
 *
 * @example
 * ```ts
 * autoNice(2)            // 5 on a 2-core machine, 0 on an 8-core one
 * autoNice(1 * 2, 2)     // 5: PROCESSES=2 with 1 worker each on 2 CPUs
 * ```
 */
export function autoNice(workers: number, cpus: number = availableParallelism()): number {
  return workers >= cpus ? DEFAULT_WORKER_NICE : 0
}
