/**
 * Where a server's time went during one load run, from the kernel's per-thread scheduler
 * counters (`/proc/<pid>/task/<tid>/schedstat`: ns on CPU, ns runnable but waiting for a CPU),
 * for A/B runs on a shared machine where req/s mostly measures the neighbours.
 *
 * - `cpuNs`: time on CPU of every thread of the process tree (the server's own work);
 * - `offNs`: time the main thread (the event loop) was neither on a CPU nor waiting for one:
 *   blocked in a syscall (an fsync, a lock) or idle. Under a load that keeps it busy (wrk -c64) an
 *   idle event loop is rare, so this is mostly time the server made its clients wait for nothing;
 * - the req/s the server would do with a CPU of its own: requests / (cpuNs + offNs), valid when
 *   every thread is pinned to one CPU (bench/http and bench/peers' 1-core mode).
 *
 * @example
 * ```ts
 * const before = sched(pid)
 * const r = await wrk(url, { seconds: 2, connections: 64 })
 * const d = schedDelta(before, sched(pid)) // { cpuNs, offNs, wallNs }
 * console.log(r.requests / ((d.cpuNs + d.offNs) / 1e9))
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs'
import { processTree } from '../lib/proc.ts'

/** One reading of {@link sched}. */
export interface SchedSample {
  /** ns on CPU, every thread of the tree. */
  runNs: number
  /** The main thread's ns on CPU and waiting for one. */
  mainRunNs: number
  mainWaitNs: number
  /** When it was read (ns, monotonic). */
  atNs: number
}

/** What happened between two samples. */
export interface SchedDelta {
  cpuNs: number
  offNs: number
  wallNs: number
}

function schedstat(path: string): [number, number] {
  try {
    const [run = '0', wait = '0'] = readFileSync(path, 'utf8').split(' ')
    return [Number(run), Number(wait)]
  } catch {
    return [0, 0] // the thread ended between the listing and the read
  }
}

/**
 * Reads the scheduler counters of `pid`'s process tree.
 *
 * @example const s = sched(server.proc.pid)
 */
export function sched(pid: number): SchedSample {
  let runNs = 0
  for (const p of processTree(pid)) {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${p}/task`)
    } catch {
      continue
    }
    for (const tid of tids) runNs += schedstat(`/proc/${p}/task/${tid}/schedstat`)[0]
  }
  const [mainRunNs, mainWaitNs] = schedstat(`/proc/${pid}/task/${pid}/schedstat`)
  return { runNs, mainRunNs, mainWaitNs, atNs: Number(process.hrtime.bigint()) }
}

/**
 * The CPU, off-CPU and wall time between two samples of one process.
 *
 * @example schedDelta(before, sched(pid)).cpuNs / requests // ns of CPU per request
 */
export function schedDelta(a: SchedSample, b: SchedSample): SchedDelta {
  const wallNs = b.atNs - a.atNs
  const offNs = Math.max(0, wallNs - (b.mainRunNs - a.mainRunNs) - (b.mainWaitNs - a.mainWaitNs))
  return { cpuNs: b.runNs - a.runNs, offNs, wallNs }
}
