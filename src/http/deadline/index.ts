/**
 * Deadlines: every request gets an `AbortSignal` that aborts when its route's deadline passes
 * (`reason`: `AppError('deadline_exceeded')` → 504) or when the client disconnects (`reason`:
 * `AppError('client_closed')`). Handlers hand it to the pool, `fetch` and sleeps through
 * `requestSignal(request)` (src/http/request-state.ts); docs/resilience.md has the table of
 * deadlines per route.
 *
 * The deadline is the one the route declares in its policy (`deadline`, src/http/route-policy.ts),
 * turned into milliseconds from the config; a route whose policy says `clientSetsDeadline` takes
 * `?timeoutMs=N` instead (up to `TASK_TIMEOUT`). The clock starts when the front takes the
 * request; reading the body counts against it (`MAX_BODY_SIZE` bounds that).
 *
 * Cheap by laziness: the stage only writes a number on the request's state. The `AbortController`,
 * its timer and the disconnect listener are made on the first `requestSignal()` call, so
 * `GET /healthz` or a sqlite read that never asks pays neither a controller nor a timer
 * (bench/middleware).
 *
 * Handlers that ignore the signal are NOT raced, and their late answers are NOT replaced:
 * racing would answer 504 while the work keeps running unseen by MAX_INFLIGHT and the breaker
 * (and a synchronous handler cannot be raced at all); replacing a finished answer by 504 saves
 * nothing (the work is done) and would report a committed write, or `/batch`'s partial results,
 * as failed. The deadline bounds what can be cancelled: the pool, `fetch`, sleeps, semaphores.
 *
 * @example
 * ```ts
 * stages.push(deadline({ requestTimeout: 100, taskTimeout: 30_000, llmTimeout: 60_000 }))
 * app.use(policyOption).get('/slow', async ({ request }) => {
 *   await pool.run('primes', input, { signal: requestSignal(request), timeoutMs: remainingMs(request) })
 * }, { policy: { deadline: 5_000 } })
 * ```
 */
import { AppError } from '../../errors.ts'
import type { Stage } from '../front/index.ts'
import { deadlineFor, type DeadlineTimeouts } from '../route-policy.ts'

/** Settings of {@link deadline}; durations in milliseconds. */
export interface DeadlineOptions extends DeadlineTimeouts {
  /** Called for each 504 caused by a deadline, with the route template (metrics). */
  onTimeout?: (route: string) => void
}

/**
 * Reads `?timeoutMs=N` from a URL without building a `URL` (only routes whose client sets the
 * deadline ask).
 *
 * @example queryTimeout('http://h/tasks/x?timeoutMs=250') // 250
 */
export function queryTimeout(url: string): number | undefined {
  const q = url.indexOf('?')
  if (q === -1) return undefined
  const at = url.indexOf('timeoutMs=', q)
  if (at === -1) return undefined
  const before = url.charCodeAt(at - 1)
  if (before !== 63 /* ? */ && before !== 38 /* & */) return undefined
  let end = url.indexOf('&', at)
  if (end === -1) end = url.length
  const n = Number(url.slice(at + 10, end))
  return Number.isInteger(n) && n > 0 ? n : undefined
}

/**
 * Stage: see the module comment.
 *
 * @example stages.push(deadline({ requestTimeout: 100, taskTimeout: 30_000, llmTimeout: 60_000, onTimeout: (route) => metrics.timedOut(route) }))
 */
export function deadline(options: DeadlineOptions): Stage {
  const onTimeout = options.onTimeout
  const timeouts: DeadlineTimeouts = { requestTimeout: options.requestTimeout, taskTimeout: options.taskTimeout, llmTimeout: options.llmTimeout }
  return {
    name: 'deadline',
    before(state) {
      const policy = state.policy
      const rule = deadlineFor(policy, timeouts)
      let ms = rule === 'none' ? Infinity : rule
      if (ms !== Infinity && policy.clientSetsDeadline) {
        const asked = queryTimeout(state.request.url)
        if (asked !== undefined) ms = Math.min(asked, options.taskTimeout)
      }
      state.setDeadline(ms)
    },
    after(state) {
      state.endDeadline()
      const error = state.error
      if (onTimeout !== undefined && error instanceof AppError && error.code === 'deadline_exceeded') onTimeout(state.route)
    },
  }
}
