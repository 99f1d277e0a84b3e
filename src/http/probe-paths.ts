/**
 * The routes the guards leave alone: probes (`/healthz`, `/readyz`) and the scrape (`/metrics`)
 * are never rate limited, shed or asked for a token, and the API docs need no token. One
 * definition, so the guards cannot disagree about which routes are exempt.
 *
 * Judged by the route template the front matched (`state.route`), never by the raw path: the
 * template is the route Elysia runs (src/http/front/target.ts makes sure of that), so an exemption
 * can only ever cover the exempt route itself. `/healthz/` is the `/healthz` route (Elysia's
 * `strictPath` is off) and so a probe; `/swagger/users`, `/swagger/nope` or a POST to
 * `/swagger/json` match no docs route, so they get every guard.
 *
 * @example
 * ```ts
 * isProbeRoute(state.route)      // true for '/healthz'
 * isDocsRoute('/swagger/json')   // true
 * isDocsRoute('unmatched')       // false
 * ```
 */

/** The probe and scrape routes. */
export const PROBE_ROUTES: readonly string[] = ['/healthz', '/readyz', '/metrics']

/**
 * The routes the docs plugin (src/http/openapi) registers, all GET: the UI, the OpenAPI document
 * and the UI's two assets. test/http/probe-paths.test.ts checks this list against the plugin.
 */
export const DOCS_ROUTES: readonly string[] = ['/swagger', '/swagger/json', '/swagger/assets/swagger-ui-bundle.js', '/swagger/assets/swagger-ui.css']

const DOCS = new Set(DOCS_ROUTES)

/** True for the route templates `/healthz`, `/readyz` and `/metrics`. */
export function isProbeRoute(route: string): boolean {
  // Three string compares: this runs for every request in three stages.
  return route === '/healthz' || route === '/readyz' || route === '/metrics'
}

/** True for the route templates of the API docs ({@link DOCS_ROUTES}). */
export function isDocsRoute(route: string): boolean {
  return DOCS.has(route)
}
