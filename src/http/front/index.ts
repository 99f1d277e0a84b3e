/**
 * The front: the one function every request goes through before and after its Elysia route. It
 * runs the middleware stack as plain function calls ("stages") and hands the request to the app's
 * compiled handler in between.
 *
 * Why not Elysia hooks: each Elysia hook is a step of the compiled handler with its own context
 * work, and every `afterResponse` hook defers through a `setImmediate` per request. With the stack
 * as eight plugins, GET /healthz served at 42 % of a raw `Bun.serve` (bench/http, 2026-11-22); the
 * same stack as stages runs in one pass with one state object per request (bench/http's table has
 * the figures now). Elysia keeps what it is good at: routing, body parsing, TypeBox validation,
 * OpenAPI and the error handler (src/http/recovery), which records its error on the request's
 * {@link RequestState} (src/http/request-state.ts) so the stages see how the route ended.
 *
 * The front's route table (./router.ts) gives every request its route template and the policy
 * that route declared (src/http/route-policy.ts), on the request's state: the stages read
 * `state.route` and `state.policy` and never name a route themselves.
 *
 * The path every stage judges is found once (./target.ts) and is the path Elysia routes by, for
 * every Host and request-target form: the route template the guards see (`state.route`) is the
 * route that runs. A request whose Host is invalid or repeated is refused 400 `invalid_host`
 * before any stage's `before`.
 *
 * HTTP's method semantics live here too, because the route table knows them: a path that exists
 * under other methods answers `405 method_not_allowed` with `Allow` (after the guards, as a 404
 * would: the guards judge it like any request), and `OPTIONS` on it answers `204` with `Allow`
 * before any guard (nothing runs, so nothing to guard; a CORS preflight, which a browser sends
 * without credentials, must not meet auth or the rate limiter). A CORS preflight of an allowed
 * origin is answered by {@link FrontOptions.preflight} (src/http/cors) in that same place.
 *
 * Every answer, refusals and 404s included, carries `X-Request-Id`, `Server`,
 * `X-Content-Type-Options: nosniff` and (when a trace context exists) `traceparent`, and passes every stage's `after`, in reverse order: metrics, the
 * access log and the breaker's verdict see guards' refusals too.
 *
 * @example
 * ```ts
 * const front = createFront(app, [metricsStage(metrics), rateLimit(opts), deadline(opts)], { serverName: SERVER_NAME, log, trustProxy: false })
 * Bun.serve({ fetch: front.fetch })
 * await front.handle(new Request('http://localhost/healthz')) // in-process, no socket
 * ```
 */
import type { AnyElysia } from 'elysia'
import { AppError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import type { PeerSource } from '../client-ip.ts'
import { renderError } from '../error-response.ts'
import { REQUEST_ID_HEADER, resolveRequestId } from '../request-id/index.ts'
import { attachState, RequestState } from '../request-state.ts'
import { UNMATCHED, UNMATCHED_POLICY } from '../route-policy.ts'
import { RouteTable, type Allowed } from './router.ts'
import { ELYSIA_PATH_FROM, invalidHost, locatePath, pathAt, retarget } from './target.ts'

/**
 * One part of the middleware stack. `before` runs before the route in stack order and refuses a
 * request by throwing (an {@link AppError} becomes its envelope); it may return a Promise when it
 * must wait (an asynchronous rate limiter). `after` runs for every answer, in reverse order, with
 * the response about to be sent; it may add headers to it, or return the response to send in its
 * place (compression), which the stages after it see.
 */
export interface Stage {
  readonly name: string
  before?(state: RequestState): void | Promise<void>
  after?(state: RequestState, response: Response): void | Response
}

/** Settings of {@link createFront}. */
export interface FrontOptions {
  /** The `Server` header value. */
  serverName: string
  /** Where refusals that are 5xx are logged. */
  log: Logger
  /** `TRUST_PROXY`: read the client address from `X-Forwarded-For`. */
  trustProxy: boolean
  /**
   * Answers a CORS preflight (src/http/cors): called for an `OPTIONS` request no route declares,
   * with the `Allow` value of its path (every method of the app when the path is unknown), before
   * any stage's `before`. Undefined (or no function): the request is not a preflight of an allowed
   * origin, and gets the plain `OPTIONS` answer.
   */
  preflight?: ((request: Request, allow: string) => Response | undefined) | undefined
}

/** The stack in front of an app: `fetch` for `Bun.serve`, `handle` for in-process requests. */
export interface Front {
  /** Bun.serve's `fetch`. */
  fetch(request: Request, server: PeerSource | null): Response | Promise<Response>
  /** One request in-process (tests, benchmarks): the whole stack, no socket. */
  handle(request: Request): Promise<Response>
  /** The route table: templates the stages key by, and each route's policy. */
  readonly routes: RouteTable
  /**
   * The end of a drain: every request still waiting for its route (queued for the pool, reading
   * a slow body…) is answered 503 `shutting_down` now, and so is every request that arrives
   * later; returns how many were waiting. The routes' late answers are dropped.
   */
  shutdown(): number
  /** How many requests are waiting for an asynchronous answer right now. */
  readonly waiting: number
}

/**
 * Builds the front of `app` with `stages` in stack order (see docs/resilience.md#order).
 *
 * @example createFront(app, stages, { serverName: 'highperf/0.1.0', log, trustProxy: false }).handle(new Request('http://localhost/healthz'))
 */
export function createFront(app: AnyElysia, stages: readonly Stage[], options: FrontOptions): Front {
  const routes = new RouteTable(app.routes)
  const { serverName, log, trustProxy, preflight } = options
  // Arrays of bound functions, not a loop over stages testing for `before`: the hot loop calls
  // straight through without a property lookup and a branch per stage.
  const befores = stages.filter((s) => s.before !== undefined).map((s) => (s.before as NonNullable<Stage['before']>).bind(s))
  const afters = stages.filter((s) => s.after !== undefined).map((s) => (s.after as NonNullable<Stage['after']>).bind(s)).reverse()
  const handler = app.fetch

  const finish = (state: RequestState, response: Response): Response => {
    // Already answered (cut at shutdown): this late answer goes nowhere and counts for nothing.
    if (state.answered) return response
    state.answered = true
    let res = response
    try {
      setHeaders(res, state)
    } catch {
      // A Response with immutable headers (none of Bun's are today): answer with a copy.
      res = new Response(res.body, res)
      setHeaders(res, state)
    }
    for (let i = 0; i < afters.length; i++) {
      try {
        const next = (afters[i] as (s: RequestState, r: Response) => void | Response)(state, res)
        if (next !== undefined) res = next
      } catch (err) {
        // Bookkeeping must never turn a finished answer into a failure.
        log.error({ requestId: state.requestId, err }, 'a middleware stage failed after the response')
      }
    }
    return res
  }

  const setHeaders = (res: Response, state: RequestState): void => {
    const h = res.headers
    h.set(REQUEST_ID_HEADER, state.requestId)
    h.set('server', serverName)
    // Every answer, JSON errors and user files included: a browser must never sniff a body into
    // HTML or script (a stored file, an error echoing input).
    h.set('x-content-type-options', 'nosniff')
    if (state.traceparent !== '') h.set('traceparent', state.traceparent)
  }

  const refuse = (state: RequestState, err: unknown): Response => {
    state.error = err
    return renderError(err, err instanceof AppError ? err.code : 'UNKNOWN', state.request, state.path, state.requestId, log)
  }

  const route = (state: RequestState): Response | Promise<Response> => {
    let res: Response | Promise<Response>
    try {
      res = handler(state.request) as Response | Promise<Response>
    } catch (err) {
      res = refuse(state, err)
    }
    if (res instanceof Promise) return res.then((r) => finish(state, r), (err: unknown) => finish(state, refuse(state, err)))
    return finish(state, res)
  }

  // Requests waiting for an asynchronous answer, each with the function that answers it 503 at
  // once; a request leaves the set when its own answer arrives. Synchronous answers never enter:
  // the set costs only the requests that wait anyway (the pool, a body, an async limiter).
  const waiting = new Set<() => void>()
  let closing = false
  const shuttingDown = (): AppError => new AppError('shutting_down', 'The server is shutting down; retry on another instance', { headers: { connection: 'close' } })

  const track = (state: RequestState, answer: Promise<Response>): Promise<Response> => new Promise<Response>((resolve) => {
    const cut = (): void => {
      // Answered already, its promise not yet settled (a microtask away): that answer stands.
      if (!state.answered) resolve(finish(state, refuse(state, shuttingDown())))
    }
    waiting.add(cut)
    answer.then(
      (res) => { waiting.delete(cut); resolve(res) },
      (err: unknown) => { waiting.delete(cut); resolve(finish(state, refuse(state, err))) },
    )
  })

  // Past the guards: the route, or the 405 of a path that exists under other methods only.
  const dispatch = (state: RequestState, allowed: Allowed | undefined): Response | Promise<Response> => {
    if (allowed === undefined) return route(state)
    if (state.method === 'OPTIONS') return finish(state, optionsAnswer(allowed))
    return finish(state, refuse(state, methodNotAllowed(state.method, state.path, allowed.allow)))
  }

  // The rest of the stack once a stage returned a Promise (rare: an asynchronous limiter).
  const resume = async (state: RequestState, pending: Promise<void>, next: number, allowed: Allowed | undefined): Promise<Response> => {
    try {
      await pending
      for (let i = next; i < befores.length; i++) {
        const p = (befores[i] as (s: RequestState) => void | Promise<void>)(state)
        if (p !== undefined) await p
      }
    } catch (err) {
      return finish(state, refuse(state, err))
    }
    return dispatch(state, allowed)
  }

  const fetch = (request: Request, server: PeerSource | null): Response | Promise<Response> => {
    const startedAt = performance.now()
    // One path for every decision, and the same one Elysia routes by (./target.ts): the hot path
    // is a host of four characters or more, where Elysia's own cut agrees.
    const url = request.url
    const start = locatePath(url)
    let path: string
    let refusal: AppError | undefined
    if (start >= ELYSIA_PATH_FROM) {
      path = pathAt(url, start)
    } else {
      const r = retarget(request, url, start)
      path = r.path
      refusal = r.refusal
    }
    const headers = request.headers
    // Bun joins repeated Host lines with ", " and uses the first for the URL; a comma is never
    // part of a valid host, so this catches a second Host (RFC 9112 §3.2: 400).
    const host = headers.get('host')
    if (host !== null && host.indexOf(',') !== -1) refusal ??= invalidHost()
    if (closing) refusal = shuttingDown()
    let match = refusal === undefined ? routes.match(request.method, path) : UNMATCHED
    // A miss: does the path exist under other methods (405, OPTIONS) or not at all (404)?
    let allowed: Allowed | undefined
    if (match === UNMATCHED && refusal === undefined) {
      allowed = routes.allow(path)
      if (allowed !== undefined) match = allowed.match
    }
    const state = new RequestState(request, path, match, resolveRequestId(headers.get(REQUEST_ID_HEADER)), server, trustProxy, startedAt)
    attachState(state)
    if (refusal !== undefined) return finish(state, refuse(state, refusal))
    if (match.policy === UNMATCHED_POLICY && request.method === 'OPTIONS' && !hasBody(headers)) {
      // Before any guard: a preflight carries no credentials and runs nothing. (An OPTIONS with a
      // body goes through the guards: the declared-body limit must still close on a huge one.)
      const answer = preflight?.(request, allowed === undefined ? routes.methods() : allowed.allow)
      if (answer !== undefined) return finish(state, answer)
      if (allowed !== undefined) return finish(state, optionsAnswer(allowed))
    }
    try {
      for (let i = 0; i < befores.length; i++) {
        const p = (befores[i] as (s: RequestState) => void | Promise<void>)(state)
        if (p !== undefined) return track(state, resume(state, p, i + 1, allowed))
      }
    } catch (err) {
      return finish(state, refuse(state, err))
    }
    const res = dispatch(state, allowed)
    return res instanceof Promise ? track(state, res) : res
  }

  return {
    fetch,
    handle: async (request) => fetch(request, null),
    routes,
    shutdown() {
      closing = true
      const cuts = [...waiting]
      waiting.clear()
      for (const cut of cuts) cut()
      return cuts.length
    },
    get waiting() {
      return waiting.size
    },
  }
}

/** The answer to `OPTIONS` on a path that exists: 204, its methods in `Allow`. */
function optionsAnswer(allowed: Allowed): Response {
  return new Response(null, { status: 204, headers: { allow: allowed.allow } })
}

/** True when the request declares a body (a length above 0, or a chunked one). */
function hasBody(headers: Headers): boolean {
  const length = headers.get('content-length')
  return (length !== null && length !== '0') || headers.get('transfer-encoding') !== null
}

/**
 * The 405 of `method` on a path that answers only the methods in `allow` (RFC 9110 §15.5.6: the
 * answer lists them in `Allow`).
 *
 * @example methodNotAllowed('PUT', '/users', 'GET, HEAD, OPTIONS, POST').status // 405
 */
export function methodNotAllowed(method: string, path: string, allow: string): AppError {
  return new AppError('method_not_allowed', `${method} is not allowed on ${path}; it answers ${allow}`, { headers: { allow } })
}
