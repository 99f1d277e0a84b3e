/**
 * CORS (`CORS_ORIGINS`): which browser origins may call the API, and what their scripts may read.
 *
 * Two parts, one policy:
 * - {@link Cors.preflight}, which the front calls for an `OPTIONS` request no route declares,
 *   before any guard (src/http/front): a preflight of an allowed origin gets `204` with
 *   `Access-Control-Allow-Origin/Methods/Headers/Max-Age`. A browser sends a preflight without
 *   credentials, so it must not meet auth, and it is not rate-limited (it runs nothing).
 * - the stage's `after`, on every other answer (errors and the front's refusals included, so a
 *   script can read a 429's `Retry-After`): `Access-Control-Allow-Origin` and
 *   `Access-Control-Expose-Headers` for an allowed origin.
 *
 * An origin that is not listed gets no CORS header at all (the browser then keeps the answer
 * from the script). Every answer carries `Vary: Origin` while CORS is on, since the CORS headers
 * depend on the request's `Origin` (a shared cache must not hand one origin's answer to another).
 *
 * Why not `@elysiajs/cors`: it is a set of Elysia hooks (`onRequest`, `onAfterHandle`,
 * `options('/*')`), and the front answers refusals (401, 429, 503, 405) outside Elysia's hooks,
 * so those answers would carry no CORS header and a browser script could not read their
 * envelope; its catch-all OPTIONS route would also sit behind the rate limiter and auth. A stage
 * sees every answer and the preflight is answered where the front knows each path's methods.
 *
 * `*` answers `Access-Control-Allow-Origin: *` and never allows credentials (browsers refuse the
 * pair; config.ts refuses `CORS_CREDENTIALS` with `*`). A listed origin is echoed back, with
 * `Access-Control-Allow-Credentials: true` only when `CORS_CREDENTIALS` is set. `Origin: null`
 * (sandboxed frames, file://) is matched only by `*`: a list cannot name it.
 *
 * @example
 * ```ts
 * const cors = corsStage({ origins: ['https://app.example'], credentials: false })
 * if (cors) createFront(app, [..., cors], { ...options, preflight: cors.preflight })
 * ```
 */
import type { Stage } from '../front/index.ts'

/** Settings of {@link corsStage}: `CORS_ORIGINS` and `CORS_CREDENTIALS`. */
export interface CorsOptions {
  /** Origins as browsers send them (config.ts `parseOrigins`), or `['*']`; empty: CORS off. */
  origins: readonly string[]
  /** `Access-Control-Allow-Credentials: true` for listed origins (never with `*`). */
  credentials: boolean
}

/** The CORS stage and the preflight answer the front calls. */
export interface Cors extends Stage {
  /**
   * The answer to a preflight of an allowed origin for a path answering the methods in `allow`,
   * or undefined when `request` is not one (no `Origin`, no `Access-Control-Request-Method`, or
   * an origin not listed).
   */
  preflight(request: Request, allow: string): Response | undefined
}

/**
 * Response headers a script may read besides the CORS-safelisted ones: the request id, the
 * back-off hints of a 429/503, the rate limit's quota, and the validators and locations the
 * routes send.
 */
export const EXPOSED_HEADERS = 'X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, ETag, Location, Allow, Content-Range, Accept-Ranges, traceparent'

/**
 * Request headers a preflight is granted when it names none: what the API reads. A preflight
 * that names headers gets those (each checked to be a header name), as with `@fastify/cors` and
 * `@elysiajs/cors`: the origin is already trusted, and a header the API ignores does no harm.
 */
export const DEFAULT_ALLOWED_HEADERS = 'Authorization, Content-Type, X-Request-Id, traceparent, tracestate, If-None-Match, If-Match, Range, Last-Event-ID'

/**
 * How long (s) a browser may cache a preflight's answer: 10 minutes, so an origin removed from
 * CORS_ORIGINS stops being served within that; Chromium caps it at 2 h anyway.
 */
export const PREFLIGHT_MAX_AGE = 600

// A comma-separated list of header names (RFC 9110 tokens), at most 2 KiB: anything else is not
// a request a browser would make, and is not echoed.
const HEADER_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/

/** Adds `Origin` to a response's `Vary` unless it is there (or `*`). */
function varyOrigin(h: Headers): void {
  const vary = h.get('vary')
  if (vary === null) h.set('vary', 'Origin')
  else if (vary !== '*' && !/(?:^|,)\s*origin\s*(?:,|$)/i.test(vary)) h.set('vary', `${vary}, Origin`)
}

/**
 * The CORS stage of `options`, or null when CORS is off (`CORS_ORIGINS` unset): no stage, no
 * per-request cost.
 *
 * @example corsStage({ origins: ['*'], credentials: false })?.preflight(request, 'GET, HEAD, OPTIONS')
 */
export function corsStage(options: CorsOptions): Cors | null {
  if (options.origins.length === 0) return null
  const any = options.origins.includes('*')
  const listed = new Set(options.origins)
  const credentials = options.credentials && !any

  /** The `Access-Control-Allow-Origin` value for `origin`, or null when it is not allowed. */
  const allowOrigin = (origin: string | null): string | null => {
    if (origin === null) return null
    if (any) return '*'
    return listed.has(origin) ? origin : null
  }

  return {
    name: 'cors',
    preflight(request, allow) {
      const headers = request.headers
      const allowed = allowOrigin(headers.get('origin'))
      const method = headers.get('access-control-request-method')
      if (allowed === null || method === null || !METHOD.test(method)) return undefined
      const asked = headers.get('access-control-request-headers')
      const out = new Headers({
        'access-control-allow-origin': allowed,
        'access-control-allow-methods': allow,
        'access-control-allow-headers': asked !== null && asked.length <= 2048 && HEADER_LIST.test(asked.trim()) ? asked.trim() : DEFAULT_ALLOWED_HEADERS,
        'access-control-max-age': String(PREFLIGHT_MAX_AGE),
        'access-control-expose-headers': EXPOSED_HEADERS,
        allow,
        vary: 'Origin',
      })
      if (credentials) out.set('access-control-allow-credentials', 'true')
      return new Response(null, { status: 204, headers: out })
    },
    after(state, response) {
      const h = response.headers
      varyOrigin(h)
      // The preflight's own answer has its headers already.
      if (h.has('access-control-allow-origin')) return
      const allowed = allowOrigin(state.request.headers.get('origin'))
      if (allowed === null) return
      h.set('access-control-allow-origin', allowed)
      h.set('access-control-expose-headers', EXPOSED_HEADERS)
      if (credentials) h.set('access-control-allow-credentials', 'true')
    },
  }
}
