/**
 * The one error renderer: every error answer of the server, whoever produces it (a stage's
 * refusal in the front, Elysia's error handler in src/http/recovery, the body limit, the readiness
 * probe), is built here as the JSON envelope `{"error":{"code","message","requestId","details"?}}`
 * with the status the registry (src/errors.ts) gives its code.
 *
 * No stack trace leaves the server: an error that is not an {@link AppError} is logged with its
 * stack under the request id and answered as a bare 500 `internal`.
 *
 * @example
 * ```ts
 * errorJson('not_found', 'user 7 does not exist', requestId)                 // 404
 * errorResponse(new AppError('rate_limited', 'slow down', { retryAfter: 2 }), requestId, log) // 429, Retry-After: 2
 * renderError(err, code, request, path, requestId, log)                      // anything thrown
 * ```
 */
import { Kind, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { AppError, ERRORS, errorBody, type ErrorCode, type ErrorDetail } from '../errors.ts'
import type { Logger } from '../log.ts'
import { schemaErrors, validationMessage, type FieldError, type ValueErrorLike } from './recovery/details.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * The envelope of `code` as a response, with the code's status from the registry. `status`
 * overrides it only where the status came from elsewhere (a framework's bare 4xx).
 *
 * @example errorJson('shutting_down', 'The server is draining', 'k3x9-1') // 503
 */
export function errorJson(code: ErrorCode, message: string, requestId: string, details?: readonly ErrorDetail[], status: number = ERRORS[code].status): Response {
  return new Response(JSON.stringify(errorBody(code, message, requestId, details)), {
    status,
    headers: { 'content-type': JSON_TYPE },
  })
}

/**
 * How often one logger writes a `request failed` line for one error code, ms. Why: during an
 * outage every refused request is a 503 of the same code; one line each wrote ~3 000 lines/s
 * (13 MB in 20 s) under 4 looping clients (test/support/outage.ts runs). The access log still has
 * every request; this line is the why, and once a second with how many were left out says it.
 */
export const FAILED_LOG_EVERY_MS = 1000

/** Per logger, per code: when its last line was written and how many were left out since. */
const failedLogState = new WeakMap<Logger, Map<string, { at: number; skipped: number }>>()

/** True when a `request failed` line for `code` may be written now; counts it as left out if not. */
function failedLogDue(log: Logger, code: string, now: number): { due: boolean; skipped: number } {
  let codes = failedLogState.get(log)
  if (codes === undefined) failedLogState.set(log, (codes = new Map()))
  const st = codes.get(code)
  if (st !== undefined && now - st.at < FAILED_LOG_EVERY_MS) {
    st.skipped++
    return { due: false, skipped: 0 }
  }
  const skipped = st?.skipped ?? 0
  codes.set(code, { at: now, skipped: 0 })
  return { due: true, skipped }
}

/**
 * The response for an {@link AppError}: its status, the envelope, `Retry-After` and its extra
 * headers. Logged at warn level when it is a 5xx and a `log` is given: at most one line per code
 * and second ({@link FAILED_LOG_EVERY_MS}), with `repeatsSinceLast` counting the ones left out.
 *
 * @example errorResponse(new AppError('rate_limited', 'slow down', { retryAfter: 2 }), 'k3x9-1', log) // 429, Retry-After: 2
 */
export function errorResponse(error: AppError, requestId: string, log?: Logger): Response {
  if (log !== undefined && error.status >= 500) {
    const { due, skipped } = failedLogDue(log, error.code, Date.now())
    if (due) log.warn({ requestId, code: error.code, err: error.message, cause: error.cause instanceof Error ? error.cause.message : undefined, ...(skipped > 0 ? { repeatsSinceLast: skipped } : {}) }, 'request failed')
  }
  const res = errorJson(error.code, error.message, requestId, error.details)
  if (error.retryAfter !== undefined) res.headers.set('retry-after', String(Math.max(1, Math.ceil(error.retryAfter))))
  if (error.headers) for (const name in error.headers) res.headers.set(name, error.headers[name] as string)
  return res
}

/** What {@link validationDetails} reads of Elysia's `ValidationError`. */
interface ValidationLike {
  type?: string
  value?: unknown
  validator?: unknown
}

interface ErrorsSource {
  Errors(value: unknown): Iterable<ValueErrorLike>
}

/**
 * The failing paths of an Elysia validation error (query, params, headers, cookies; bodies are
 * checked by src/http/json-body before Elysia sees them), at most `MAX_DETAILS`, without
 * echoing values. Reads the validator's lazy error iterator, not `error.all` (see ./recovery/details.ts).
 *
 * @example validationDetails(err) // [{ path: '/limit', message: "Expected string to match '^(?:[1-9]|[1-9][0-9]|100)$'" }]
 */
export function validationDetails(error: unknown): FieldError[] {
  const { validator, value } = error as ValidationLike
  if (validator !== null && typeof validator === 'object' && typeof (validator as Partial<ErrorsSource>).Errors === 'function') {
    return schemaErrors((validator as ErrorsSource).Errors(value))
  }
  const schema = (validator as { schema?: unknown } | undefined)?.schema ?? validator
  if (schema !== null && typeof schema === 'object' && Kind in schema) return schemaErrors(Value.Errors(schema as TSchema, value))
  return []
}

/**
 * The response for anything a handler, a stage or Elysia threw: an {@link AppError} as itself, a
 * validation error of the request as 422 with the failing fields (of the response: a logged 500), a parse error as 400, no route as 404,
 * anything else as a logged 500. `code` is Elysia's error code (`'UNKNOWN'` from the front).
 *
 * @example renderError(new Error('boom'), 'NOT_FOUND', request, '/nope', 'k3x9-1', log)
 */
export function renderError(error: unknown, code: unknown, request: Request, path: string, requestId: string, log: Logger): Response {
  if (error instanceof AppError) return errorResponse(error, requestId, log)
  switch (code) {
    case 'VALIDATION': {
      const where = (error as ValidationLike).type ?? 'body'
      const details = validationDetails(error)
      if (where === 'response') {
        // The server's own answer failed its declared schema (a row written by hand or by an older
        // version, a handler bug): not the client's fault, so a logged 500, never a 422 that
        // echoes the stored data's shape back.
        log.error({ requestId, path, details }, 'a response failed its declared schema')
        return errorJson('internal', 'Internal server error', requestId)
      }
      return errorJson('validation_failed', validationMessage(where, details), requestId, details)
    }
    case 'PARSE': {
      // A body parser's own refusal (too_deep, validation_failed, unsupported_media_type, …)
      // arrives wrapped in Elysia's ParseError: answer with it, not with a generic 400.
      const cause = (error as Error).cause
      if (cause instanceof AppError) return errorResponse(cause, requestId, log)
      return errorJson('invalid_json', 'The request body is not valid JSON (or not of its declared content type)', requestId)
    }
    case 'NOT_FOUND':
      return errorJson('route_not_found', `No route for ${request.method} ${path}`, requestId)
    case 'INVALID_COOKIE_SIGNATURE':
      return errorJson('bad_request', 'A cookie signature is invalid', requestId)
    default: {
      const status = (error as { status?: unknown }).status
      if (typeof status === 'number' && status === 413) return errorJson('payload_too_large', 'The request body is too large', requestId)
      // A framework's own 4xx (405, 431…): its status kept, under the generic client-error code.
      if (typeof status === 'number' && status >= 400 && status < 500) return errorJson('bad_request', 'The request was rejected', requestId, undefined, status)
      log.error({ requestId, err: error }, 'unhandled error')
      return errorJson('internal', 'Internal server error', requestId)
    }
  }
}
