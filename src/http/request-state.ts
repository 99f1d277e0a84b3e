/**
 * The request context: one typed record per request holding everything the front
 * (src/http/front) and its stages know or keep about that request, and what handlers read back
 * (its deadline signal, its request id, its client address).
 *
 * One instance per request, created by the front before any stage runs and stored on the Request
 * under one module symbol, so a handler holding only the Request (Elysia's `request`) reaches it:
 * {@link stateOf}, {@link requestSignal}, {@link remainingMs}. A property add on the Request costs
 * ~60 ns against ~170 ns for a WeakMap set, and a weak table would cost the GC at every collection
 * (bench/middleware). Every per-stage slot is a typed field declared here, so every instance has
 * one shape (the stages' property reads stay monomorphic) and no stage keeps a table of its own.
 *
 * Deadlines are lazy: the deadline stage only stores a number ({@link RequestState.setDeadline});
 * the `AbortController`, its timer and the disconnect listener are made on the first
 * {@link RequestState.signal} call, so `GET /healthz` or a sqlite read that never asks pays no
 * controller and no timer.
 *
 * @example
 * ```ts
 * app.get('/slow', async ({ request }) => {
 *   await pool.run('primes', input, { signal: requestSignal(request), timeoutMs: remainingMs(request) })
 * })
 * stateOf(request)?.route // '/slow'
 * ```
 */
import type { Span } from '@opentelemetry/api'
import { AppError } from '../errors.ts'
import type { CircuitBreaker } from '../sync/circuit-breaker.ts'
import { bearerDigest, type TokenVerifier } from './bearer-token.ts'
import { clientAddress, type PeerSource, UNKNOWN_CLIENT } from './client-ip.ts'
import { UNMATCHED, type RouteMatch, type RoutePolicy } from './route-policy.ts'

/** The rate limiter's answer for a request, kept for the RateLimit-* headers of its response. */
export interface Quota {
  readonly limit: number
  readonly remaining: number
  readonly resetSec: number
}

// Deadline timers armed and not yet fired or cleared: a leak shows here (tests).
let armed = 0

/**
 * Deadline timers currently armed (requests holding a signal with a pending deadline).
 *
 * @example armedDeadlines() // 0 when idle
 */
export function armedDeadlines(): number {
  return armed
}

const clientClosed = (): AppError => new AppError('client_closed', 'The client closed the connection')

/** Everything the stack knows about one request. */
export class RequestState {
  readonly request: Request
  readonly method: string
  /** The path without the query string, e.g. `/users/7`. */
  readonly path: string
  /** The route template (`/users/:id`), or `unmatched` when no route matches. */
  readonly route: string
  /** The matched route's policy (src/http/route-policy.ts): what the guards do for it. */
  readonly policy: RoutePolicy
  /** `performance.now()` when the front took the request: the clock of its metrics and deadline. */
  readonly startedAt: number
  /** Echoed as `X-Request-Id` and quoted in every error body. */
  readonly requestId: string
  /** This request's trace id (32 hex), '' before the tracing stage ran. */
  traceId = ''
  /** The outgoing `traceparent` header; '' sends none. */
  traceparent = ''
  /**
   * The error Elysia's error handler (or the front, for a stage's refusal) answered with: the
   * breaker, the metrics and the deadline stages judge the outcome by its code.
   */
  error: unknown = undefined
  /**
   * True once the front has answered: a request cut at shutdown (503 `shutting_down`) whose route
   * answers later must not be answered, nor counted by the stages, a second time.
   */
  answered = false
  /** The tracing stage's server span, ended in its `after`. */
  span: Span | undefined = undefined
  /** The rate limiter's quota, written as RateLimit-* headers in its `after`. */
  quota: Quota | undefined = undefined
  /** The circuit breaker that admitted the request, waiting for its verdict in the stage's `after`. */
  breaker: CircuitBreaker | undefined = undefined
  /** True while max-inflight counts the request (its `after` gives the slot back once). */
  counted = false
  /** The deadline in ms from {@link startedAt}; `Infinity` for none (the default: no deadline stage). */
  deadlineMs = Infinity
  readonly #server: PeerSource | null
  readonly #trustProxy: boolean
  #client = ''
  #controller: AbortController | undefined = undefined
  #timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** The presented bearer token's digest: undefined until asked, null when there is none. */
  #bearer: Buffer | null | undefined = undefined

  constructor(request: Request, path: string, match: RouteMatch, requestId: string, server: PeerSource | null, trustProxy: boolean, startedAt: number) {
    this.request = request
    this.method = request.method
    this.path = path
    this.route = match.template
    this.policy = match.policy
    this.requestId = requestId
    this.startedAt = startedAt
    this.#server = server
    this.#trustProxy = trustProxy
  }

  /**
   * The client's address (see src/http/client-ip.ts), resolved once per request however many
   * stages ask: Bun's `server.requestIP()` allocates an object and formats the address on every
   * call (~0.8 µs measured in a loop). Must first be called while the request is live: Bun answers
   * null once the response is sent.
   */
  client(): string {
    if (this.#client === '') this.#client = this.#server === null && !this.#trustProxy ? UNKNOWN_CLIENT : clientAddress(this.request, this.#server, this.#trustProxy)
    return this.#client
  }

  /**
   * True when the request's `Authorization` header carries `verifier`'s token. The presented
   * token is hashed once per request (the rate limiter and auth both ask); each call is then one
   * constant-time compare of digests.
   */
  authenticated(verifier: TokenVerifier): boolean {
    let presented = this.#bearer
    if (presented === undefined) this.#bearer = presented = bearerDigest(this.request.headers.get('authorization'))
    return presented !== null && verifier.verifyDigest(presented)
  }

  /** When the deadline passes, on the `performance.now()` clock; `Infinity` for none. */
  get deadlineAt(): number {
    return this.startedAt + this.deadlineMs
  }

  /**
   * Sets the deadline, `ms` after {@link startedAt} (`Infinity`: none). A signal handed out before
   * (a stage ahead of the deadline asked for it) keeps being the request's signal and is armed now.
   */
  setDeadline(ms: number): void {
    this.deadlineMs = ms
    if (this.#controller !== undefined) this.#arm()
  }

  /**
   * The request's cancellation signal: aborts with `AppError('deadline_exceeded')` at the
   * deadline and with `AppError('client_closed')` when the client disconnects. Always the same
   * signal for the same request.
   */
  signal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal
    const controller = new AbortController()
    this.#controller = controller
    const client = this.request.signal
    if (client.aborted) controller.abort(clientClosed())
    else {
      // The listener stays for the life of the request: a streaming answer (SSE) still learns of
      // the disconnect after the handler returned.
      client.addEventListener('abort', () => controller.abort(clientClosed()), { once: true })
    }
    this.#arm()
    return controller.signal
  }

  /** Milliseconds left before the deadline (`Infinity` when there is none); never negative. */
  remainingMs(): number {
    if (this.deadlineMs === Infinity) return Infinity
    return Math.max(0, this.startedAt + this.deadlineMs - performance.now())
  }

  /**
   * Clears the deadline's timer (the deadline stage's `after`: the answer is out, so a streamed
   * body is bounded only by the client's disconnect from here on).
   */
  endDeadline(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    armed--
  }

  #arm(): void {
    const controller = this.#controller as AbortController
    if (controller.signal.aborted || this.deadlineMs === Infinity) return
    // Re-armed with a new deadline (setDeadline after signal): the old timer goes.
    this.endDeadline()
    const left = this.startedAt + this.deadlineMs - performance.now()
    if (left <= 0) this.#expire()
    else {
      armed++
      // setTimeout's extra argument instead of a closure: one allocation fewer per armed request.
      this.#timer = setTimeout(RequestState.#fire, Math.ceil(left), this)
    }
  }

  static #fire(state: RequestState): void {
    armed--
    state.#timer = undefined
    state.#expire()
  }

  #expire(): void {
    this.#controller?.abort(new AppError('deadline_exceeded', `The request deadline of ${this.deadlineMs} ms passed`))
  }
}

const STATE = Symbol('highperf.request')
type WithState = Request & { [STATE]?: RequestState }

/**
 * The state of a request the front took; undefined for a Request it never saw.
 *
 * @example stateOf(request)?.route // '/users/:id'
 */
export function stateOf(request: Request): RequestState | undefined {
  return (request as WithState)[STATE]
}

/**
 * Attaches `state` to its request (the front does this once per request) and returns it.
 *
 * @example attachState(new RequestState(req, '/healthz', UNMATCHED, 'id-1', null, false, performance.now()))
 */
export function attachState(state: RequestState): RequestState {
  (state.request as WithState)[STATE] = state
  return state
}

/**
 * The state of `request`, made (with no route and no deadline) for a Request the front never saw,
 * so {@link requestSignal} works on any Request (a test's, an embedder's).
 */
function stateFor(request: Request): RequestState {
  return stateOf(request) ?? attachState(new RequestState(request, '', UNMATCHED, '', null, false, performance.now()))
}

/**
 * The request's cancellation signal ({@link RequestState.signal}): aborts with
 * `AppError('deadline_exceeded')` at the route's deadline and with `AppError('client_closed')` when
 * the client disconnects. Works for any `Request`: one the front never saw gets a signal that
 * aborts on disconnect only.
 *
 * @example
 * ```ts
 * const res = await fetch(upstream, { signal: requestSignal(request) })
 * ```
 */
export function requestSignal(request: Request): AbortSignal {
  return stateFor(request).signal()
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
  return stateOf(request)?.remainingMs() ?? Infinity
}
