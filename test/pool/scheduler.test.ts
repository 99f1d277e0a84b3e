/**
 * The scheduler alone, on worker handles over plain rings (no Worker thread): which ring a run
 * is written into, and how runs taken back from rings return to the queue. A "worker" starts a
 * run by claiming its request in the ring, as worker.ts does.
 */
import { describe, expect, test } from 'bun:test'
import type { AppError } from '../../src/errors.ts'
import { BatchClock } from '../../src/pool/batch-clock.ts'
import { Ring } from '../../src/pool/ring.ts'
import { Run, type TaskMeta } from '../../src/pool/run.ts'
import { Scheduler } from '../../src/pool/scheduler.ts'
import { TaskCounters } from '../../src/pool/stats.ts'
import type { RunOptions } from '../../src/pool/types.ts'
import { WorkerHandle } from '../../src/pool/worker-handle.ts'

const meta = (): TaskMeta => ({ name: 'echo', idx: 0, counters: new TaskCounters() })
let nextId = 1

/** A ready worker's handle with a real request ring and no thread; `reader` is the worker's end. */
function handle(index: number): WorkerHandle<Run> & { reader: Ring } {
  const sab = Ring.allocate(1 << 16)
  const h = new WorkerHandle<Run>(index, undefined as never, new Ring(sab), new Ring(Ring.allocate(1 << 12)), new Int32Array(32), undefined as never, undefined)
  h.ready = true
  return Object.assign(h, { reader: new Ring(sab) })
}

/** The worker claims its next request, as worker.ts does: that run has started. */
function start(h: WorkerHandle<Run> & { reader: Ring }): void {
  while (h.reader.poll()) {
    const claimed = h.reader.claim()
    h.reader.release()
    if (claimed) return
  }
  throw new Error('nothing to claim')
}

function run(o: RunOptions = {}): Run {
  const r = new Run(nextId++, meta(), '{}', o, o.priority ?? 0)
  r.promise.catch(() => {})
  return r
}

/** A scheduler over `handles` (core workers first; `lane` is the short lane's index, -1: none). */
function scheduler(handles: Array<WorkerHandle<Run> | undefined>, core: number, lane = -1, window = 1024) {
  const settled: Array<[number, string]> = []
  const s = new Scheduler(handles, { core, lane, window }, new BatchClock(), (r: Run, err: AppError) => settled.push([r.id, err.code]))
  s.index = new Map([['echo', 0]])
  return { s, settled }
}

const ids = (runs: readonly Run[]) => runs.map((r) => r.id)
const queued = (s: Scheduler) => ids(s.queue.drain())

describe('Scheduler', () => {
  test('a run goes to the ready worker holding the fewest runs, never to a long, dead or starting one', () => {
    const [a, b, c, d, e] = [handle(0), handle(1), handle(2), handle(3), handle(4)]
    c.long = true
    d.ready = false
    e.dead = true
    const { s } = scheduler([a, b, c, d, e], 5, -1)
    s.submit(run())
    s.submit(run())
    s.submit(run())
    expect([a.count, b.count, c.count, d.count, e.count]).toEqual([2, 1, 0, 0, 0])
  })

  test('background runs go to core workers only; the short lane takes short runs only, and only when no other worker is idle', () => {
    const core = handle(0)
    const overflow = handle(1)
    const lane = handle(2)
    const { s } = scheduler([core, overflow, lane], 1, 2)
    const background = [run({ priority: -1 }), run({ priority: -1 })]
    for (const r of background) s.submit(r)
    expect(background.map((r) => r.handle?.index)).toEqual([0, 0])
    const first = run({ timeoutMs: 100 })
    s.submit(first) // the overflow worker is idle: it gets it, not the lane
    expect(first.handle?.index).toBe(1)
    start(core)
    start(overflow)
    const long = run({ timeoutMs: 5000 })
    const short = run({ timeoutMs: 100 })
    s.submit(long)
    s.submit(short)
    expect(long.handle?.index).toBe(1)
    expect(short.handle?.index).toBe(2)
  })

  test('a foreground run is never written behind unstarted background runs: they go back to the queue', () => {
    const w = handle(0)
    const { s } = scheduler([w], 1)
    const jobs = [run({ priority: -1 }), run({ priority: -1 }), run({ priority: -1 })]
    for (const r of jobs) s.submit(r)
    start(w) // the first job runs
    const request = run()
    s.submit(request)
    expect(ids(w.takeAll())).toEqual([jobs[0]!.id, request.id])
    expect(queued(s)).toEqual([jobs[1]!.id, jobs[2]!.id])
  })

  test('a prioritised run takes the unstarted runs back: it is written first, and they keep their order behind it', () => {
    const w = handle(0)
    const { s } = scheduler([w], 1, -1, 2)
    const plain = [run(), run(), run(), run()]
    for (const r of plain) s.submit(r)
    start(w)
    const urgent = run({ priority: 1 })
    s.submit(urgent) // a window of 2: the running one and the urgent one
    expect(ids(w.takeAll())).toEqual([plain[0]!.id, urgent.id])
    expect(queued(s)).toEqual(ids(plain.slice(1)))
  })

  test('requeueFront puts runs back ahead of those that never left the queue, in their order, from `from` on', () => {
    const { s } = scheduler([], 1)
    const waiting = run()
    s.queue.push(waiting)
    const back = [run(), run(), run()]
    s.requeueFront(back, 1)
    expect(back.map((r) => r.state)).toEqual([0, 0, 0])
    expect(queued(s)).toEqual([back[1]!.id, back[2]!.id, waiting.id])
  })

  test('balance gives an idle worker half of the busiest worker\'s unstarted runs, newest ones', () => {
    const busy = handle(0)
    const idle = handle(1)
    idle.ready = false
    const { s } = scheduler([busy, idle], 2)
    const runs = Array.from({ length: 9 }, () => run())
    for (const r of runs) s.submit(r)
    start(busy) // a long run at the front, 8 waiting behind it
    idle.ready = true
    s.balance()
    expect(idle.count).toBe(4)
    expect(ids(idle.takeAll())).toEqual(ids(runs.slice(5)))
    expect(ids(busy.takeAll())).toEqual(ids(runs.slice(0, 5)))
  })

  test('pump settles a queued run whose signal aborted instead of writing it', () => {
    const w = handle(0)
    w.ready = false
    const { s, settled } = scheduler([w], 1)
    const ac = new AbortController()
    const aborted = run({ signal: ac.signal })
    const next = run()
    s.submit(aborted)
    s.submit(next)
    ac.abort()
    w.ready = true
    s.pump()
    expect(settled).toEqual([[aborted.id, 'client_closed']])
    expect(aborted.meta.counters.canceled).toBe(1)
    expect(ids(w.takeAll())).toEqual([next.id])
  })

  test('a run of a task the catalogue lacks fails unknown_task when dispatched or when the catalogue arrives', () => {
    const w = handle(0)
    const { s, settled } = scheduler([w], 1)
    const lost = new Run(nextId++, { name: 'nope', idx: -1, counters: new TaskCounters() }, '{}', undefined, 0)
    lost.promise.catch(() => {})
    expect(s.dispatch(lost)).toBe(true)
    const queuedLost = new Run(nextId++, { name: 'nope', idx: -1, counters: new TaskCounters() }, '{}', undefined, 0)
    queuedLost.promise.catch(() => {})
    s.queue.push(queuedLost)
    s.rejectUnknownQueued()
    expect(settled).toEqual([[lost.id, 'unknown_task'], [queuedLost.id, 'unknown_task']])
    expect(w.count).toBe(0)
  })
})
