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
import { getPriority, setPriority } from 'node:os'

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
