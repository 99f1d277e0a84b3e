/**
 * Workers lower their own scheduling priority (`nice` option / WORKER_NICE) on Linux, so the event
 * loop wins the CPU over CPU-bound tasks; the main thread keeps its own. Checked in the kernel's
 * view: the nice field (19th) of /proc/<pid>/task/<tid>/stat.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { getPriority } from 'node:os'
import { lowerThreadPriority, threadId } from '../../src/pool/nice.ts'
import { availableParallelism } from 'node:os'
import { autoNice, DEFAULT_WORKER_NICE } from '../../src/pool/nice.ts'
import { WorkerPool } from '../../src/pool/pool.ts'
import { loadConfig } from '../../src/config.ts'

const linux = existsSync('/proc/thread-self')
const EXTRA = new URL('./fixtures/tasks.ts', import.meta.url)
const pools: WorkerPool[] = []
afterAll(async () => { await Promise.all(pools.map((p) => p.close(500))) })

/** The nice value of one thread of this process, as the kernel reports it. */
function kernelNice(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8')
  // Fields after "(comm)": state is field 3, nice is field 19.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

async function workerNice(o: { nice?: number; workers?: number }): Promise<number> {
  const pool = new WorkerPool({ workers: 1, queueLimit: 10, extraTasks: EXTRA, ...o })
  pools.push(pool)
  const tid = JSON.parse(new TextDecoder().decode(await pool.run('t.tid', '{}'))) as number
  return kernelNice(tid)
}

describe.if(linux)('worker priority on Linux', () => {
  test('by default workers are niced when they leave no core to the main thread, which keeps its priority', async () => {
    const mainBefore = kernelNice(threadId() as number)
    const cores = availableParallelism()
    expect(await workerNice({ workers: cores })).toBe(Math.max(DEFAULT_WORKER_NICE, mainBefore))
    expect(await workerNice({ nice: -1, workers: cores })).toBe(Math.max(DEFAULT_WORKER_NICE, mainBefore))
    expect(kernelNice(threadId() as number)).toBe(mainBefore)
  })

  test('the nice option sets another value, and 0 leaves workers at the main thread priority', async () => {
    const main = kernelNice(threadId() as number)
    expect(await workerNice({ nice: 15 })).toBe(Math.max(15, main))
    expect(await workerNice({ nice: 0 })).toBe(main)
  })

  test('lowerThreadPriority never raises a priority (which would need privileges)', async () => {
    const tid = threadId() as number
    const r = lowerThreadPriority(getPriority(tid) - 1)
    expect(r?.nice).toBe(getPriority(tid))
  })
})

test('the automatic nice value depends on whether the workers leave a core to the main thread', () => {
  const cores = availableParallelism()
  expect(autoNice(cores)).toBe(DEFAULT_WORKER_NICE)
  expect(autoNice(cores + 1)).toBe(DEFAULT_WORKER_NICE)
  if (cores > 1) expect(autoNice(cores - 1)).toBe(0)
})

test('WORKER_NICE is a setting from -1 (auto) to 19', () => {
  const ok = loadConfig([], { WORKER_NICE: '7' })
  expect(ok.kind === 'config' && ok.config.workerNice).toBe(7)
  const def = loadConfig([], {})
  expect(def.kind === 'config' && def.config.workerNice).toBe(-1)
  expect(() => loadConfig([], { WORKER_NICE: '20' })).toThrow()
})
