/**
 * WORKER_NICE's automatic value counts the pool workers of every server process on the host, not
 * only the process's own: PROCESSES=2 with 1 worker each on 2 CPUs leaves no core to the main
 * threads, so each worker lowers its priority (DEFAULT_WORKER_NICE). Before, each process
 * compared its 1 worker with the 2 CPUs and left it at nice 0 (bench/peers "all cores": paced
 * /healthz p99 far over 5 ms while the workers ran tasks). Checked in the kernel's view: the nice
 * field of /proc/<pid>/task/<tid>/stat of each server process's `Worker` threads and main thread.
 */
import { afterAll, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { DEFAULT_WORKER_NICE } from '../../src/pool/nice.ts'
import { baseEnv, spawnCluster, tempDir } from '../cluster/support.ts'
import { freePort } from '../support/process.ts'

const tmp = tempDir()
afterAll(() => tmp.remove())

/** Nice value of one thread, as the kernel reports it (field 19; the name may hold spaces). */
function niceOf(pid: number, tid: string): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

/** The nice values of a process's main thread and of its pool worker threads. */
function priorities(pid: number): { main: number; workers: number[] } {
  const workers = readdirSync(`/proc/${pid}/task`)
    .filter((tid) => readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'Worker')
    .map((tid) => niceOf(pid, tid))
  return { main: niceOf(pid, String(pid)), workers }
}

test.skipIf(!existsSync('/proc/thread-self') || availableParallelism() < 2)(
  'PROCESSES=2 with 1 worker each on 2 CPUs: every worker is niced, every main thread keeps its priority',
  async () => {
    const ownNice = niceOf(process.pid, String(process.pid))
    // `taskset -c 0,1`: exactly 2 CPUs for the server whatever the host has (the CPU count the
    // automatic value compares with comes from the affinity mask, src/ops/cpus.ts).
    const c = spawnCluster(['taskset', '-c', '0,1', process.execPath, 'run', 'src/main.ts'], baseEnv(freePort(), `${tmp.dir}/two`))
    try {
      // "ready" = listening with a pool worker up, and a worker lowers its priority before it
      // reports ready (src/pool/worker.ts): the values are final once this line is out.
      await c.waitFor((l) => l.msg === 'all 2 server processes ready')
      const pids = [...c.readyPids().values()]
      expect(pids).toHaveLength(2)
      for (const pid of pids) {
        expect(priorities(pid)).toEqual({ main: ownNice, workers: [Math.max(DEFAULT_WORKER_NICE, ownNice)] })
      }
    } finally {
      expect(await c.stop()).toBe(0)
    }
  },
)
