/**
 * Deadlines: every request gets an `AbortSignal` that aborts when its route's deadline passes
 * (`reason`: `AppError('deadline_exceeded')` → 504) or when the client disconnects (`reason`:
 * `AppError('client_closed')`). Handlers hand it to the pool, `fetch` and sleeps through
 * {@link requestSignal}; docs/resilience.md has the table of deadlines per route.
 *
 * The clock starts when the front takes the request; the deadline is chosen by route template,
 * never by raw path. Reading the body counts against it (`MAX_BODY_SIZE` bounds that).
 *
 * Cheap by laziness: the stage itself only stores `{start, ms}` per request. The
 * `AbortController`, its timer and the disconnect listener are made on the first
 * `requestSignal()` call, so `GET /healthz` or a sqlite read that never asks pays one small
 * object on the request (the clock is the front's `startedAt`), not a controller and a timer
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
 * app.get('/slow', async ({ request }) => {
 *   await pool.run('primes', input, { signal: requestSignal(request), timeoutMs: remainingMs(request) })
 * })
 * ```
 */
import { AppError } from '../../errors.ts'
import type { Stage } from '../front/index.ts'

/** A deadline in ms, or `'none'` for routes bounded only by client disconnect. */
export type DeadlineRule = number | 'none'

/** Settings of {@link deadline}; durations in milliseconds. */
export interface DeadlineOptions {
  /** Default deadline (`REQUEST_TIMEOUT`). */
  requestTimeout: number
  /** `/tasks*` and `/batch` (`TASK_TIMEOUT`), also the largest `?timeoutMs=` accepted. */
  taskTimeout: number
  /** `/messages*` (`LLM_TIMEOUT`). */
  llmTimeout: number
  /** Per route template, e.g. `{ '/reports/:id': 5000, '/stream': 'none' }`; wins over the table. */
  overrides?: Record<string, DeadlineRule>
  /** Called for each 504 caused by a deadline, with the route template (metrics). */
  onTimeout?: (route: string) => void
}

// Per request. A class so every instance has one shape (monomorphic property access).
class RequestDeadline {
  start: number
  ms: number
  controller: AbortController | undefined = undefined
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  constructor(start: number, ms: number) {
    this.start = start
    this.ms = ms
  }
}

// Per-request state lives on the Request under a module symbol, not in a WeakMap: a property add
// costs ~60 ns against ~170 ns for a WeakMap set (weak tables also cost the GC at every
// collection). The Request is the one the server handed over, so the state dies with it.
// Shown by bench/middleware's "+ deadline" row (in-process, per request).
const STATE = Symbol('highperf.deadline')
type WithDeadline = Request & { [STATE]?: RequestDeadline }
const stateOf = (request: Request): RequestDeadline | undefined => (request as WithDeadline)[STATE]
const setState = (request: Request, state: RequestDeadline): void => { (request as WithDeadline)[STATE] = state }

// Timers armed and not yet fired or cleared: a leak shows here (tests, /metrics if wanted).
let armed = 0

/**
 * Deadline timers currently armed (requests holding a signal with a pending deadline).
 *
 * @example armedDeadlines() // 0 when idle
 */
export function armedDeadlines(): number {
  return armed
}

function expire(state: RequestDeadline): void {
  armed--
  state.timer = undefined
  state.controller?.abort(new AppError('deadline_exceeded', `The request deadline of ${state.ms} ms passed`))
}

function arm(state: RequestDeadline): void {
  const controller = state.controller
  if (controller === undefined || controller.signal.aborted || state.ms === Infinity) return
  const left = state.start + state.ms - performance.now()
  if (left <= 0) expire(state)
  // setTimeout's extra argument instead of a closure: one allocation fewer per armed request.
  else {
    armed++
    state.timer = setTimeout(expire, Math.ceil(left), state)
  }
}

/**
 * The request's cancellation signal: aborts with `AppError('deadline_exceeded')` at the route's
 * deadline and with `AppError('client_closed')` when the client disconnects. Always the same
 * signal for the same request. Works for any `Request`: one the stage never saw gets a signal
 * that aborts on disconnect only.
 *
 * @example
 * ```ts
 * const res = await fetch(upstream, { signal: requestSignal(request) })
 * ```
 */
export function requestSignal(request: Request): AbortSignal {
  let state = stateOf(request)
  if (state === undefined) {
    state = new RequestDeadline(performance.now(), Infinity)
    setState(request, state)
  }
  if (state.controller !== undefined) return state.controller.signal
  const controller = new AbortController()
  state.controller = controller
  const client = request.signal
  if (client.aborted) controller.abort(new AppError('client_closed', 'The client closed the connection'))
  else {
    // The listener stays for the life of the request: a streaming answer (SSE) still learns of
    // the disconnect after the handler returned.
    client.addEventListener('abort', () => controller.abort(new AppError('client_closed', 'The client closed the connection')), { once: true })
  }
  arm(state)
  return controller.signal
}

/**
 * Milliseconds left before the request's deadline (`Infinity` when it has none); never negative.
 * Pass it as the pool's `timeoutMs`.
 *
 * @example
 * ```ts
 * await pool.run(name, body, { signal: requestSignal(request), timeoutMs: remainingMs(request) })
 * ```
 */
export function remainingMs(request: Request): number {
  const state = stateOf(request)
  if (state === undefined || state.ms === Infinity) return Infinity
  return Math.max(0, state.start + state.ms - performance.now())
}

/**
 * Reads `?timeoutMs=N` from a URL without building a `URL` (only task routes ask).
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
 * The deadline of a route template (see docs/resilience.md for the table), before `?timeoutMs`.
 *
 * @example deadlineFor('GET', '/users/:id', opts) // 80 with REQUEST_TIMEOUT=100
 */
export function deadlineFor(method: string, route: string, options: DeadlineOptions): DeadlineRule {
  const override = options.overrides?.[route]
  if (override !== undefined) return override
  // Streams and sendfile answer at once and then take as long as the client reads; /metrics and
  // the docs are bounded by the scraper's own timeout and would only lose data to a cut.
  if (route === '/jobs/:id/events' || route.startsWith('/files') || route === '/metrics' || route.startsWith('/swagger')) return 'none'
  if (route.startsWith('/tasks') || route === '/batch') return options.taskTimeout
  if (route.startsWith('/messages')) return options.llmTimeout
  if (method === 'GET' && (route === '/users/:id' || route === '/api/cars' || route.startsWith('/api/cars/'))) {
    return Math.max(1, Math.round(options.requestTimeout * 0.8))
  }
  return options.requestTimeout
}

function isTaskRoute(route: string): boolean {
  return route.startsWith('/tasks') || route === '/batch'
}

/**
 * Stage: see the module comment.
 *
 * @example stages.push(deadline({ requestTimeout: 100, taskTimeout: 30_000, llmTimeout: 60_000, overrides: { '/reports/:id': 5_000 } }))
 */
export function deadline(options: DeadlineOptions): Stage {
  const onTimeout = options.onTimeout
  // Deadline per "method route", computed once per template: the per-request cost is one Map get.
  const byRoute = new Map<string, number>()
  const getByRoute = new Map<string, number>()
  const ruleOf = (method: string, route: string): number => {
    // Only GET (and HEAD, its body-less twin) is special in the table; other methods share a cache.
    const read = method === 'GET' || method === 'HEAD'
    const cache = read ? getByRoute : byRoute
    let ms = cache.get(route)
    if (ms === undefined) {
      const rule = deadlineFor(read ? 'GET' : method, route, options)
      ms = rule === 'none' ? Infinity : rule
      cache.set(route, ms)
    }
    return ms
  }
  return {
    name: 'deadline',
    before(state) {
      const request = state.request
      let ms = ruleOf(state.method, state.route)
      if (ms !== Infinity && isTaskRoute(state.route)) {
        const asked = queryTimeout(request.url)
        if (asked !== undefined) ms = Math.min(asked, options.taskTimeout)
      }
      const existing = stateOf(request)
      if (existing === undefined) {
        setState(request, new RequestDeadline(state.startedAt, ms))
        return
      }
      // requestSignal() was called before us: keep its signal, start the clock now.
      existing.start = state.startedAt
      existing.ms = ms
      arm(existing)
    },
    after(state) {
      const existing = stateOf(state.request)
      if (existing !== undefined && existing.timer !== undefined) {
        clearTimeout(existing.timer)
        existing.timer = undefined
        armed--
      }
      const error = state.error
      if (onTimeout !== undefined && error instanceof AppError && error.code === 'deadline_exceeded') onTimeout(state.route)
    },
  }
}
