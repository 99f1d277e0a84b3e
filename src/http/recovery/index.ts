/**
 * Recovery middleware: Elysia's error handler. Every error Elysia raises or a route throws
 * (routing, parsing, validation, handler errors, 404s) is answered by the one error renderer
 * (src/http/error-response.ts) as the JSON envelope with the status from the registry.
 *
 * It also records the error on the request's state (src/http/request-state.ts), as the front does
 * for a stage's refusal, so the breaker, metrics and deadline stages judge the outcome by its code.
 *
 * @example
 * ```ts
 * app.use(recovery(log))
 * ```
 */
import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { renderError } from '../error-response.ts'
import { requestIdOf } from '../request-id/index.ts'
import { stateOf } from '../request-state.ts'

/**
 * Elysia plugin: the global error handler (see the module comment).
 *
 * @example new Elysia().use(bodyLimit(1024 * 1024)).use(recovery(log))
 */
export function recovery(log: Logger) {
  return new Elysia({ name: 'highperf/recovery' }).onError({ as: 'global' }, ({ code, error, request, path }) => {
    const state = stateOf(request)
    // A parser's AppError is the outcome the stages judge (its code), not Elysia's wrapper.
    const cause = code === 'PARSE' ? (error as Error).cause : undefined
    if (state !== undefined) state.error = cause instanceof AppError ? cause : error
    return renderError(error, code, request, path, requestIdOf(request), log)
  })
}
