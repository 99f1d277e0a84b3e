/**
 * Bearer-token auth: with `API_TOKEN` set, every method but GET/HEAD/OPTIONS needs
 * `Authorization: Bearer <token>`; reads too when `AUTH_READS=true`. Otherwise 401 `unauthorized`
 * with `WWW-Authenticate: Bearer realm="highperf"`. Routes whose policy exempts them
 * (`exempt.auth`: health, readiness, metrics and the API docs, src/routes/policy.ts) stay open so
 * probes and scrapers need no secret: exactly those routes, as the front matched them, which is
 * the route Elysia runs (src/http/front/target.ts).
 *
 * The token is compared in constant time (src/http/bearer-token.ts) and hashed once per request
 * however many stages ask (`state.authenticated`); it is never logged and never echoed.
 *
 * Runs in the front's `before`, before the body is parsed: an unauthenticated upload costs nothing.
 *
 * @example
 * ```ts
 * stages.push(auth({ apiToken: config.apiToken, authReads: config.authReads }))
 * ```
 */
import { AppError } from '../../errors.ts'
import { TokenVerifier } from '../bearer-token.ts'
import type { Stage } from '../front/index.ts'

/** Settings of {@link auth}; `apiToken: ''` turns auth off. */
export interface AuthOptions {
  apiToken: string
  authReads: boolean
}

/** The challenge sent with every 401. */
export const WWW_AUTHENTICATE = 'Bearer realm="highperf"'

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
  const verifier = new TokenVerifier(options.apiToken)
  const reads = options.authReads
  return {
    name: 'auth',
    before(state) {
      if (!reads && !isMutating(state.method)) return
      if (state.policy.exempt.auth) return
      if (state.authenticated(verifier)) return
      throw new AppError('unauthorized', 'A valid bearer token is required: send Authorization: Bearer <token>', {
        headers: { 'www-authenticate': WWW_AUTHENTICATE },
      })
    },
  }
}
