/**
 * The one registry of errors highperf can answer with (modelled on Fastify's `lib/errors.js`).
 *
 * Every non-2xx JSON body is `{"error":{"code","message","requestId","details"?}}`; the `code` is
 * the stable contract clients branch on, the message is for people and may change. A module that
 * needs a new failure adds one line here rather than inventing a status code at the throw site, so
 * the HTTP status of a code is decided in exactly one place.
 *
 * This file imports nothing, so every layer (including the worker side of the pool) may use it.
 *
 * @example
 * ```ts
 * throw new AppError('not_found', `user ${id} does not exist`)
 * throw new AppError('queue_full', 'the worker pool queue is full', { retryAfter: 1 })
 * ```
 */
export const ERRORS = {
  // 4xx: the client's input or situation.
  bad_request: { status: 400, message: 'The request is malformed' },
  invalid_host: { status: 400, message: 'The Host header is invalid or sent more than once' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  invalid_id: { status: 400, message: 'The id in the path is not valid' },
  unauthorized: { status: 401, message: 'A valid bearer token is required' },
  forbidden: { status: 403, message: 'Access to this resource is forbidden' },
  not_found: { status: 404, message: 'The resource does not exist' },
  route_not_found: { status: 404, message: 'No route matches this method and path' },
  unknown_task: { status: 404, message: 'No task is registered under this name' },
  method_not_allowed: { status: 405, message: 'This method is not allowed on this resource' },
  conflict: { status: 409, message: 'The resource conflicts with an existing one' },
  job_failed: { status: 409, message: 'The job failed' },
  job_canceled: { status: 409, message: 'The job was canceled' },
  backup_in_progress: { status: 409, message: 'A backup is already running; retry when it has finished' },
  precondition_failed: { status: 412, message: 'A precondition failed' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'The request content type is not supported' },
  range_not_satisfiable: { status: 416, message: 'The requested range cannot be satisfied' },
  validation_failed: { status: 422, message: 'The request does not match the schema' },
  invalid_input: { status: 422, message: 'The task input does not match its schema' },
  // JSON nested past MAX_JSON_DEPTH (src/json/depth.ts): refused before any recursive work.
  too_deep: { status: 422, message: 'The JSON is nested too deeply' },
  rate_limited: { status: 429, message: 'Too many requests' },
  client_closed: { status: 499, message: 'The client closed the request' },
  // 5xx: ours or upstream's.
  internal: { status: 500, message: 'Internal server error' },
  task_failed: { status: 500, message: 'The task failed' },
  worker_crashed: { status: 500, message: 'The worker running the task crashed' },
  backup_failed: { status: 500, message: 'The backup could not be written' },
  upstream_error: { status: 502, message: 'The upstream service failed' },
  upstream_unauthorized: { status: 502, message: 'The upstream service refused the API key' },
  upstream_bad_response: { status: 502, message: 'The upstream service sent an unusable answer' },
  upstream_unreachable: { status: 502, message: 'The upstream service cannot be reached' },
  queue_full: { status: 503, message: 'The server is overloaded; retry later' },
  overloaded: { status: 503, message: 'Too many requests in flight; retry later' },
  circuit_open: { status: 503, message: 'The circuit breaker is open; retry later' },
  shutting_down: { status: 503, message: 'The server is shutting down' },
  // JOBS_URL's Redis or PostgreSQL does not answer (src/jobs/bullmq): nothing was stored.
  jobs_unavailable: { status: 503, message: 'The job queue (JOBS_URL) cannot be reached; retry later' },
  pool_closed: { status: 503, message: 'The worker pool is closed' },
  llm_not_configured: { status: 503, message: 'No LLM upstream is configured: set LLM_BASE_URL' },
  // PROCESSES > 1: the primary did not return the host's merged metrics in time (src/routes/metrics.ts).
  metrics_unavailable: { status: 503, message: "The host's merged metrics could not be gathered in time; retry" },
  deadline_exceeded: { status: 504, message: 'The request deadline passed' },
  task_timeout: { status: 504, message: 'The task did not finish within its time limit' },
  upstream_timeout: { status: 504, message: 'The upstream service did not answer in time' },
  // Storage (src/store/sqlite.ts storageError): the server's disk, not the request, failed.
  insufficient_storage: { status: 507, message: "The server's disk is full; retry later" },
  storage_busy: { status: 503, message: 'The database is busy; retry' },
  storage_read_only: { status: 503, message: 'The database is read-only on the server; retry later' },
  storage_unavailable: { status: 503, message: "The server's disk failed the operation; retry later" },
} as const satisfies Record<string, { status: number; message: string }>

/** A stable, snake_case error code from {@link ERRORS}. */
export type ErrorCode = keyof typeof ERRORS

/**
 * One entry of an error's `details`: the JSON Pointer of what failed (`/` for the whole input) and
 * a sentence about it. Every `details` the server sends is an array of these, whatever the error,
 * so a client reads them one way.
 *
 * @example const d: ErrorDetail = { path: '/state', message: 'state must be one of queued, running' }
 */
export interface ErrorDetail {
  path: string
  message: string
}

/** Extra facts an {@link AppError} can carry to the response. */
export interface AppErrorOptions {
  /** What failed, field by field (see {@link ErrorDetail}). */
  details?: readonly ErrorDetail[]
  /** Seconds; becomes a `Retry-After` header (429, 503, 202 polling). */
  retryAfter?: number
  /** Extra response headers (e.g. `WWW-Authenticate`). */
  headers?: Record<string, string>
  /** The error that caused this one; logged, never sent to the client. */
  cause?: unknown
}

/**
 * An error with a stable `code` and its HTTP `status` taken from the registry. The recovery
 * middleware turns it into the JSON error envelope; anything that is not an AppError becomes a
 * 500 `internal` whose message and stack stay in the log.
 *
 * @example
 * ```ts
 * if (!user) throw new AppError('not_found', `user ${id} does not exist`)
 * ```
 */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details?: readonly ErrorDetail[]
  readonly retryAfter?: number
  readonly headers?: Record<string, string>

  constructor(code: ErrorCode, message?: string, options: AppErrorOptions = {}) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.status = ERRORS[code].status
    if (options.details !== undefined) this.details = options.details
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter
    if (options.headers !== undefined) this.headers = options.headers
  }
}

/** True when `code` names an entry of the registry (for codes that crossed a thread or a wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}

/** The JSON error envelope every non-2xx JSON response uses. */
export interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: readonly ErrorDetail[] }
}

/**
 * Builds the error envelope for a code (used where there is no exception to throw, e.g. a
 * middleware answering early).
 *
 * @example
 * ```ts
 * return Response.json(errorBody('rate_limited', 'slow down', requestId), { status: 429 })
 * ```
 */
export function errorBody(code: string, message: string, requestId: string, details?: readonly ErrorDetail[]): ErrorBody {
  return details === undefined
    ? { error: { code, message, requestId } }
    : { error: { code, message, requestId, details } }
}
