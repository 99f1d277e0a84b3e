/**
 * Hand-off of long runs: how short work keeps a path to a worker while long work holds the pool
 * (docs/pool.md#long-runs-and-overflow-workers has the figures).
 *
 * The pool cannot tell a long task from a short one before it runs (`POST /tasks/sleep` and
 * `POST /tasks/primes` look alike), so it watches what runs, the way Go's sysmon watches a
 * goroutine stuck in a syscall and hands its P to a new M:
 * - a worker whose current run has been going for `longRunMs` (POOL_LONG_RUN) is **long**: it
 *   stops counting toward capacity. It takes no new task, and the tasks waiting in its ring are
 *   taken back and given to the other workers;
 * - for each long worker the pool starts one **overflow** worker, at most `maxOverflow`
 *   (POOL_OVERFLOW) of them, so the pool keeps `workers` that are not long;
 * - an overflow worker that has been idle for `lingerMs` while fewer runs are long than there are
 *   overflow workers is stopped;
 * - when every core and overflow worker is long anyway (a client started `workers + maxOverflow`
 *   long runs), one more worker, the **short lane**, starts and takes only tasks with a deadline
 *   of at most {@link SHORT_DEADLINE_MS}: they cannot hold it for long, so request-sized work
 *   always has a worker, whatever runs elsewhere.
 * Background tasks (priority < 0: jobs) never run on an overflow worker, and a request is never
 * written behind unstarted ones (scheduler.ts `ahead`), so long jobs can never take the overflow
 * capacity, and a request waits behind at most one job.
 *
 * This module is the decision only (pure, so it is tested alone): the supervisor (supervisor.ts)
 * calls {@link planHandoff} from a timer every {@link tickMs} while the pool has work or overflow
 * workers, after draining the result rings (a run whose result is waiting is not long), and
 * applies the plan; the scheduler (scheduler.ts) keeps background runs off overflow workers and
 * gives the lane only {@link isShort} runs.
 *
 * @example
 * ```ts
 * const plan = planHandoff(handles, { core: 2, maxOverflow: 2, longRunMs: 50, lingerMs: 5000 }, performance.now())
 * for (const s of plan.long) markLong(s)
 * for (const i of plan.spawn) spawnOverflow(i)
 * for (const s of plan.retire) stop(s)
 * ```
 */

/** What the plan reads of a worker (a `WorkerHandle` in the pool). */
export interface HandoffWorker {
  readonly index: number
  readonly ready: boolean
  readonly dead: boolean
  /** Set by the pool once the plan called the worker long; cleared when its run ends. */
  readonly long: boolean
  /** Tasks the worker holds (the running one first). */
  readonly count: number
  /** When the task at the front of the worker started, at the latest (or when it went idle). */
  readonly frontSince: number
}

/** Settings of {@link planHandoff}. */
export interface HandoffOptions {
  /** Core workers (WORKERS): handles 0 … core-1; overflow workers' places follow. */
  core: number
  /** Most overflow workers at once (POOL_OVERFLOW resolved). */
  maxOverflow: number
  /** A run this old (ms) makes its worker long (POOL_LONG_RUN). */
  longRunMs: number
  /** An idle overflow worker not needed for this long (ms) is stopped. */
  lingerMs: number
  /** Keep the short lane's place (index core + maxOverflow): see {@link SHORT_DEADLINE_MS}. */
  lane: boolean
}

/** What the pool should do now. */
export interface HandoffPlan<S extends HandoffWorker> {
  /** Workers whose run just became long: mark them, take their waiting tasks back. */
  long: S[]
  /** Free overflow places (handle indexes) to start a worker in. */
  spawn: number[]
  /** Idle overflow workers to stop. */
  retire: S[]
}

/**
 * POOL_LONG_RUN's default (ms): half the default request deadline (REQUEST_TIMEOUT 100 ms), so a
 * request that landed behind a run that turns out long is moved to another worker in time to
 * meet it.
 */
export const DEFAULT_LONG_RUN_MS = 50

/**
 * A task whose deadline (`timeoutMs`) is at most this is **short**: besides every other worker
 * it may use the short lane, one more worker that starts only while every core and overflow
 * worker is held by a long run, and that takes short tasks only. However many long runs a client
 * starts, a request with a request-sized deadline (`GET /api/cars/:id`'s 80 ms, a task with
 * `?timeoutMs=200`) keeps a worker, and no task can hold that worker longer than this plus the
 * pool's cancel grace (then the worker is replaced).
 */
export const SHORT_DEADLINE_MS = 1000

/**
 * A run the short lane takes: one whose `timeoutMs` is at most {@link SHORT_DEADLINE_MS}. Read
 * from the options, not as `deadline - acceptedAt`: that difference of two floats can come out a
 * hair above the timeout it was made from.
 *
 * @example isShort({ options: { timeoutMs: 80 } }) // true
 */
export function isShort(run: { readonly options: { readonly timeoutMs?: number } | undefined }): boolean {
  const ms = run.options?.timeoutMs
  return ms !== undefined && ms > 0 && ms <= SHORT_DEADLINE_MS
}

/** How long an idle overflow worker that is not needed is kept, in case the next long run comes (ms). */
export const LINGER_MS = 5000

/**
 * How often the pool plans for a given POOL_LONG_RUN: a fifth of it, between 5 and 50 ms, so a
 * run is found long at most ~20 % after the threshold, and the timer costs nothing measurable.
 *
 * @example tickMs(50) // 10
 */
export function tickMs(longRunMs: number): number {
  return Math.min(50, Math.max(5, Math.round(longRunMs / 5)))
}

/**
 * POOL_OVERFLOW resolved: negative means as many overflow workers as core workers (each core
 * worker can be handed off once); otherwise the number given.
 *
 * @example overflowLimit(-1, 2) // 2
 */
export function overflowLimit(configured: number, workers: number): number {
  return configured < 0 ? workers : configured
}

/**
 * The decision of one tick (see the module comment). `handles` is the pool's handle array: core
 * workers at 0 … core-1, overflow workers after them, then the short lane's place when
 * `o.lane` is set (index core + maxOverflow), `undefined` where none runs.
 *
 * @example
 * ```ts
 * // One core worker running the same task since t=0; at t=60 it is long and gets a stand-in.
 * const busy = { index: 0, ready: true, dead: false, long: false, count: 1, frontSince: 0 }
 * planHandoff([busy, undefined], { core: 1, maxOverflow: 1, longRunMs: 50, lingerMs: 5000, lane: false }, 60)
 * // { long: [busy], spawn: [1], retire: [] }
 * ```
 */
export function planHandoff<S extends HandoffWorker>(handles: ReadonlyArray<S | undefined>, o: HandoffOptions, now: number): HandoffPlan<S> {
  const plan: HandoffPlan<S> = { long: [], spawn: [], retire: [] }
  const laneAt = o.lane ? o.core + o.maxOverflow : -1
  let longRuns = 0
  let overflow = 0
  /** Core and overflow workers (running or starting) not held by a long run. */
  let free = 0
  for (let i = 0; i < handles.length; i++) {
    const s = handles[i]
    if (s === undefined || s.dead) continue
    let long = s.long
    if (!long && s.ready && s.count > 0 && now - s.frontSince >= o.longRunMs) {
      plan.long.push(s)
      long = true
    }
    if (i === laneAt) continue
    if (i >= o.core) overflow++
    if (long) longRuns++
    else free++
  }
  // One overflow worker per long run, as Go hands a blocked M's P to a new M, up to the bound.
  const want = Math.min(o.maxOverflow, longRuns)
  const overflowEnd = o.core + o.maxOverflow
  for (let i = o.core; i < overflowEnd && overflow < want; i++) {
    const s = handles[i]
    if (s === undefined || s.dead) {
      plan.spawn.push(i)
      overflow++
      free++
    }
  }
  if (overflow > want) {
    for (let i = o.core; i < overflowEnd && overflow > want; i++) {
      const s = handles[i]
      if (s !== undefined && !s.dead && isIdleFor(s, o.lingerMs, now)) {
        plan.retire.push(s)
        overflow--
      }
    }
  }
  // The short lane: wanted only while every other worker is held by a long run (not while
  // there are none at all: before the pool starts, or while crashed ones are replaced).
  if (laneAt >= 0) {
    const lane = handles[laneAt]
    const alive = lane !== undefined && !lane.dead
    if (free === 0 && longRuns > 0 && !alive) plan.spawn.push(laneAt)
    else if (free > 0 && alive && isIdleFor(lane, o.lingerMs, now)) plan.retire.push(lane)
  }
  return plan
}

function isIdleFor(s: HandoffWorker, ms: number, now: number): boolean {
  return s.ready && !s.long && s.count === 0 && now - s.frontSince >= ms
}
