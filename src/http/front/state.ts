/**
 * The per-request record of the middleware stack: what the front (src/http/front/index.ts) learns
 * about a request before the route runs and what the stages and handlers read back.
 *
 * One instance per request, created by the front and stored on the Request under a module symbol,
 * so a handler holding only the Request (Elysia's `request`) reaches it with {@link stateOf}. A
 * property add on the Request costs ~60 ns against ~170 ns for a WeakMap set, and the weak table
 * would cost the GC at every collection (bench/middleware). A class so every instance has one
 * shape: the stages' property reads stay monomorphic.
 *
 * @example
 * ```ts
 * app.get('/whoami', ({ request }) => ({ requestId: requestIdOf(request), client: stateOf(request)?.client() }))
 * ```
 */
import { clientAddress, type PeerSource, UNKNOWN_CLIENT } from '../client-ip.ts'

/** Everything the stack knows about one request. */
export class RequestState {
  readonly request: Request
  readonly method: string
  /** The path without the query string, e.g. `/users/7`. */
  readonly path: string
  /** The route template (`/users/:id`), or `unmatched` when no route matches. */
  readonly route: string
  /** `performance.now()` when the front took the request. */
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
  readonly #server: PeerSource | null
  readonly #trustProxy: boolean
  #client = ''

  constructor(request: Request, path: string, route: string, requestId: string, server: PeerSource | null, trustProxy: boolean, startedAt: number) {
    this.request = request
    this.method = request.method
    this.path = path
    this.route = route
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
 * Attaches `state` to its request (the front does this once per request).
 *
 * @example attachState(new RequestState(req, '/healthz', '/healthz', 'id-1', null, false, performance.now()))
 */
export function attachState(state: RequestState): void {
  (state.request as WithState)[STATE] = state
}
