/**
 * Recovery middleware: every error, thrown or raised by Elysia, becomes the JSON error envelope
 * `{"error":{"code","message","requestId","details"?}}` with the status from the registry.
 *
 * No stack trace leaves the server: an error that is not an {@link AppError} is logged with its
 * stack under the request id and answered as a bare 500 `internal`.
 *
 * Two callers: Elysia's error handler (errors of routes, parsing and validation, 404s) and the
 * front (src/http/front), which renders a stage's refusal with {@link errorResponse}. Both record
 * the error on the request's state, so the breaker, metrics and deadline stages judge the outcome
 * by its code.
 *
 * @example
 * ```ts
 * app.use(recovery(log))
 * ```
 */
import { Elysia } from 'elysia'
import { Kind, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { AppError, errorBody, type ErrorCode } from '../../errors.ts'
import { schemaErrors, validationMessage, type FieldError, type ValueErrorLike } from './details.ts'
import type { Logger } from '../../log.ts'
import { requestIdOf } from '../request-id/index.ts'
import { stateOf } from '../front/state.ts'

export { schemaErrors, validationMessage, MAX_DETAILS, type FieldError } from './details.ts'

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
 * checked by src/http/json-body before Elysia sees them), at most {@link MAX_DETAILS}, without
 * echoing values. Reads the validator's lazy error iterator, not `error.all` (see ./details.ts).
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

function json(status: number, code: ErrorCode | string, message: string, requestId: string, details?: unknown): Response {
  return new Response(JSON.stringify(errorBody(code, message, requestId, details)), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  })
}

/**
 * The response for an {@link AppError}: its status, the envelope, `Retry-After` and its extra
 * headers. Logged at warn level when it is a 5xx.
 *
 * @example errorResponse(new AppError('rate_limited', 'slow down', { retryAfter: 2 }), 'k3x9-1', log) // 429, Retry-After: 2
 */
export function errorResponse(error: AppError, requestId: string, log: Logger): Response {
  if (error.status >= 500) log.warn({ requestId, code: error.code, err: error.message, cause: error.cause instanceof Error ? error.cause.message : undefined }, 'request failed')
  const res = json(error.status, error.code, error.message, requestId, error.details)
  if (error.retryAfter !== undefined) res.headers.set('retry-after', String(Math.max(1, Math.ceil(error.retryAfter))))
  if (error.headers) for (const name in error.headers) res.headers.set(name, error.headers[name] as string)
  return res
}

/**
 * The response for anything a handler, a stage or Elysia threw: an {@link AppError} as itself, a
 * validation error as 422 with the failing fields, a parse error as 400, no route as 404,
 * anything else as a logged 500.
 *
 * @example renderError(new Error('boom'), 'NOT_FOUND' as const, request, '/nope', 'k3x9-1', log)
 */
export function renderError(error: unknown, code: unknown, request: Request, path: string, requestId: string, log: Logger): Response {
  if (error instanceof AppError) return errorResponse(error, requestId, log)
  switch (code) {
    case 'VALIDATION': {
      const where = (error as ValidationLike).type ?? 'body'
      const details = validationDetails(error)
      return json(422, 'validation_failed', validationMessage(where, details), requestId, details)
    }
    case 'PARSE': {
      // A body parser's own refusal (too_deep, validation_failed, unsupported_media_type, …)
      // arrives wrapped in Elysia's ParseError: answer with it, not with a generic 400.
      const cause = (error as Error).cause
      if (cause instanceof AppError) return errorResponse(cause, requestId, log)
      return json(400, 'invalid_json', 'The request body is not valid JSON (or not of its declared content type)', requestId)
    }
    case 'NOT_FOUND':
      return json(404, 'route_not_found', `No route for ${request.method} ${path}`, requestId)
    case 'INVALID_COOKIE_SIGNATURE':
      return json(400, 'bad_request', 'A cookie signature is invalid', requestId)
    default: {
      const status = (error as { status?: unknown }).status
      if (typeof status === 'number' && status === 413) return json(413, 'payload_too_large', 'The request body is too large', requestId)
      if (typeof status === 'number' && status >= 400 && status < 500) {
        return json(status, 'bad_request', 'The request was rejected', requestId)
      }
      log.error({ requestId, err: error }, 'unhandled error')
      return json(500, 'internal', 'Internal server error', requestId)
    }
  }
}

/** Elysia plugin: the global error handler (see the module comment). */
export function recovery(log: Logger) {
  return new Elysia({ name: 'highperf/recovery' }).onError({ as: 'global' }, ({ code, error, request, path }) => {
    const state = stateOf(request)
    // A parser's AppError is the outcome the stages judge (its code), not Elysia's wrapper.
    const cause = code === 'PARSE' ? (error as Error).cause : undefined
    if (state !== undefined) state.error = cause instanceof AppError ? cause : error
    return renderError(error, code, request, path, requestIdOf(request), log)
  })
}
