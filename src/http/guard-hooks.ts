/**
 * Typing and outcome helpers for the guard plugins' Elysia hooks: what a request ended as, read in
 * `afterResponse`, and typed wrappers for hooks that read context fields Elysia sets but does not type.
 *
 * Elysia's `set.status` is not the answer's status on the error path (the recovery middleware
 * returns a finished `Response`, and `set.status` may still say 200), so the status is derived
 * from the error when there is one: an {@link AppError}'s registry status, an Elysia error's
 * `status` (404, 422, 400 …), else 500, exactly as the recovery middleware answers.
 *
 * @example
 * ```ts
 * app.onAfterResponse({ as: 'global' }, afterResponse(({ error, set, responseValue }) => {
 *   if (finalStatus(error, set, responseValue) >= 500) breaker.failure()
 * }))
 * ```
 */
import { StatusMap } from 'elysia'
import { AppError } from '../errors.ts'

/** The `afterResponse` context fields the guard plugins read (Elysia sets `error` at run time but does not type it). */
export interface AfterResponseFacts {
  request: Request
  /** The route template; undefined when no route matched. */
  route?: string
  set: { status?: number | string }
  responseValue?: unknown
  error?: unknown
}

/**
 * Lets a hook typed with {@link AfterResponseFacts} be passed to `onAfterResponse`. Hooks must
 * destructure their parameter (`({ request, error }) => …`): Elysia reads the hook's source to
 * decide what to compute per request, and a hook that takes the context whole makes every route
 * parse its query, headers and cookies.
 *
 * @example
 * ```ts
 * app.onAfterResponse({ as: 'global' }, afterResponse(({ request, error }) => { ... }))
 * ```
 */
export function afterResponse(fn: (facts: AfterResponseFacts) => unknown): (context: object) => unknown {
  return fn as (context: object) => unknown
}

/** The `onRequest` context fields the guard plugins read (`path` is set by Elysia's router, untyped). */
export interface RequestFacts {
  request: Request
  /** The path without the query, e.g. `/users/7`. */
  path: string
  set: { headers: Record<string, string | number> }
  server: { requestIP(request: Request): { address: string } | null } | null
  /** The client address once a plugin resolved it (rate limit, access log); '' before. */
  clientAddress: string
}

/**
 * Lets a hook typed with {@link RequestFacts} be passed to `onRequest` (same rule as
 * {@link afterResponse}: destructure the parameter).
 *
 * @example
 * ```ts
 * app.onRequest(onRequestHook(({ path }) => { if (path === '/healthz') return }))
 * ```
 */
export function onRequestHook(fn: (facts: RequestFacts) => unknown): (context: object) => unknown {
  return fn as (context: object) => unknown
}

/**
 * The HTTP status the client received (see the module comment).
 *
 * @example finalStatus(new AppError('queue_full'), { status: 200 }, undefined) // 503
 */
export function finalStatus(error: unknown, set: { status?: number | string }, responseValue: unknown): number {
  if (error !== undefined && error !== null) {
    if (error instanceof AppError) return error.status
    const status = (error as { status?: unknown }).status
    return typeof status === 'number' && status >= 400 && status < 600 ? status : 500
  }
  if (responseValue instanceof Response) return responseValue.status
  const s = set.status
  if (typeof s === 'number') return s
  if (typeof s === 'string') return (StatusMap as Record<string, number>)[s] ?? 200
  return 200
}
