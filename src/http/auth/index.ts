/**
 * Bearer-token auth: with `API_TOKEN` set, every method but GET/HEAD/OPTIONS needs
 * `Authorization: Bearer <token>`; reads too when `AUTH_READS=true`. Otherwise 401 `unauthorized`
 * with `WWW-Authenticate: Bearer realm="highperf"`. Health, readiness, metrics and the API docs
 * stay open so probes and scrapers need no secret: exactly those routes, judged by the route
 * template the front matched, which is the route Elysia runs (src/http/front/target.ts).
 *
 * The comparison is constant-time: both the expected token and the presented one are hashed with
 * SHA-256 and the 32-byte digests compared with `crypto.timingSafeEqual`, so neither the token's
 * length nor the position of the first wrong byte shows in the response time. The token is never
 * logged and never echoed.
 *
 * Runs in the front's `before`, before the body is parsed: an unauthenticated upload costs nothing.
 *
 * @example
 * ```ts
 * stages.push(auth({ apiToken: config.apiToken, authReads: config.authReads }))
 * ```
 */
import { isDocsRoute, isProbeRoute } from '../probe-paths.ts'
import { createHash, timingSafeEqual } from 'node:crypto'
import { AppError } from '../../errors.ts'
import type { Stage } from '../front/index.ts'

/** Settings of {@link auth}; `apiToken: ''` turns auth off. */
export interface AuthOptions {
  apiToken: string
  authReads: boolean
}

/** The challenge sent with every 401. */
export const WWW_AUTHENTICATE = 'Bearer realm="highperf"'

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * Checks presented bearer tokens against one expected token in constant time.
 *
 * @example
 * ```ts
 * const v = new TokenVerifier('s3cret')
 * v.verifyHeader('Bearer s3cret') // true
 * ```
 */
export class TokenVerifier {
  readonly #expected: Buffer
  readonly #verdicts = new WeakMap<Request, boolean>()

  constructor(token: string) {
    if (token === '') throw new RangeError('TokenVerifier needs a non-empty token')
    this.#expected = digest(token)
  }

  /** True when `token` is the expected one; time does not depend on where they differ. */
  verify(token: string): boolean {
    return timingSafeEqual(digest(token), this.#expected)
  }

  /** True when an `Authorization` header value carries the expected bearer token. */
  verifyHeader(header: string | null): boolean {
    if (header === null || header.length < 8) return false
    // The scheme is case-insensitive (RFC 7235); "Bearer " is 7 characters.
    if (header.slice(0, 7).toLowerCase() !== 'bearer ') return false
    return this.verify(header.slice(7).trim())
  }

  /** {@link verifyHeader} of the request's `Authorization`, memoised per request. */
  isAuthenticated(request: Request): boolean {
    const header = request.headers.get('authorization')
    if (header === null) return false
    const known = this.#verdicts.get(request)
    if (known !== undefined) return known
    const ok = this.verifyHeader(header)
    this.#verdicts.set(request, ok)
    return ok
  }
}

const verifiers = new Map<string, TokenVerifier>()

/**
 * The shared {@link TokenVerifier} of a token: the rate limiter (which runs before auth and keys
 * authenticated clients by their token identity) and auth use the same instance, so its
 * per-request memo means one hash per request between them.
 *
 * @example
 * ```ts
 * if (verifierFor(config.apiToken).isAuthenticated(request)) key = TOKEN_CLIENT
 * ```
 */
export function verifierFor(token: string): TokenVerifier {
  let v = verifiers.get(token)
  if (v === undefined) {
    v = new TokenVerifier(token)
    verifiers.set(token, v)
  }
  return v
}

/**
 * Route templates that never need a token: health, readiness, metrics and the API docs. By
 * template, not path (src/http/probe-paths.ts): a request the front matched to no route is
 * `unmatched`, which is never exempt.
 *
 * @example isAuthExempt('/swagger/json') // true
 */
export function isAuthExempt(route: string): boolean {
  return isProbeRoute(route) || isDocsRoute(route)
}

/**
 * True for methods that need the token even when reads are open: every method but the reads
 * GET, HEAD and OPTIONS, so an unusual method (PURGE, PROPFIND…) is never a way around it.
 *
 * @example isMutating('PATCH') // true
 */
export function isMutating(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS'
}

/**
 * Stage: see the module comment. With no token configured it does no work at all.
 *
 * @example stages.push(auth({ apiToken: 's3cret', authReads: false }))
 */
export function auth(options: AuthOptions): Stage {
  if (options.apiToken === '') return { name: 'auth' }
  const verifier = verifierFor(options.apiToken)
  const reads = options.authReads
  return {
    name: 'auth',
    before(state) {
      if (!reads && !isMutating(state.method)) return
      if (isAuthExempt(state.route)) return
      if (verifier.isAuthenticated(state.request)) return
      throw new AppError('unauthorized', 'A valid bearer token is required: send Authorization: Bearer <token>', {
        headers: { 'www-authenticate': WWW_AUTHENTICATE },
      })
    },
  }
}
