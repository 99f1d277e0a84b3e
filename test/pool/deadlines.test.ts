import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { DeadlineSweep, SWEEP_MS } from '../../src/pool/deadlines.ts'
import { WHY_CANCELED, WHY_TIMEOUT } from '../../src/pool/protocol.ts'
import type { WorkerHandle } from '../../src/pool/worker-handle.ts'
import { TaskCounters } from '../../src/pool/stats.ts'
import { DONE, IN_WORKER, Run } from '../../src/pool/run.ts'
import type { RunOptions } from '../../src/pool/types.ts'

function task(options: RunOptions, deadlineInMs = 0): Run {
  const t = new Run(1, { name: 'echo', idx: 0, counters: new TaskCounters() }, '{}', options, 0)
  t.promise.catch(() => {})
  if (deadlineInMs > 0) t.deadline = performance.now() + deadlineInMs
  return t
}

/** Waits until `cond` holds (timers may run late on a loaded machine), at most 5 s. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await Bun.sleep(10)
}

/** Makes `t` the running task of a fake worker. */
function running(t: Run): void {
  t.state = IN_WORKER
  t.handle = { front: () => t } as unknown as WorkerHandle<Run>
}

describe('DeadlineSweep', () => {
  test('a deadline that passes expires the task with task_timeout within a few sweeps', async () => {
    const expired: Array<[string, number]> = []
    const sweep = new DeadlineSweep((_t, err, why) => expired.push([err.code, why]))
    sweep.watch(task({ timeoutMs: 5 }, 5))
    await until(() => expired.length > 0)
    expect(expired).toEqual([['task_timeout', WHY_TIMEOUT]])
  })

  test('an aborted signal expires the task with the signal\'s AppError reason', async () => {
    const expired: string[] = []
    const sweep = new DeadlineSweep((_t, err, why) => expired.push(`${err.code}/${why}`))
    const ac = new AbortController()
    sweep.watch(task({ signal: ac.signal }))
    ac.abort(new AppError('deadline_exceeded'))
    await until(() => expired.length > 0)
    expect(expired).toEqual([`deadline_exceeded/${WHY_CANCELED}`])
  })

  /** A running task with a signal and a deadline `ms` away, watched until the sweep armed it. */
  async function armed(ms: number): Promise<{ t: Run; ac: AbortController; expired: string[] }> {
    const expired: string[] = []
    const sweep = new DeadlineSweep((_t, err) => expired.push(err.code))
    const ac = new AbortController()
    const t = task({ signal: ac.signal, timeoutMs: ms }, ms)
    running(t)
    sweep.watch(t)
    await until(() => t.watch?.swept === 2)
    expect(t.watch?.swept).toBe(2)
    return { t, ac, expired }
  }

  test('a running task that outlives two sweeps is armed: its abort then acts at once', async () => {
    const { ac, expired } = await armed(60_000)
    ac.abort()
    expect(expired).toEqual(['client_closed']) // synchronously, from the listener
  })

  test('release drops an armed task\'s listener and timer', async () => {
    const { t, ac, expired } = await armed(300)
    DeadlineSweep.release(t)
    ac.abort()
    await Bun.sleep(400) // past the deadline
    expect(expired).toEqual([])
  })

  test('a waiting task is polled, never armed, and a settled one is dropped', async () => {
    const expired: string[] = []
    const sweep = new DeadlineSweep((_t, err) => expired.push(err.code))
    const waiting = task({ signal: new AbortController().signal })
    waiting.state = IN_WORKER
    waiting.handle = { front: () => undefined } as unknown as WorkerHandle<Run> // another task runs first
    const settled = task({ signal: new AbortController().signal })
    settled.state = DONE
    sweep.watch(waiting)
    sweep.watch(settled)
    await until(() => waiting.watch?.swept === 1)
    await Bun.sleep(SWEEP_MS * 20) // more sweeps: still polled, not armed
    expect(waiting.watch?.swept).toBe(1)
    expect(expired).toEqual([])
  })
})
