/**
 * The paths the guards leave alone: probes (`/healthz`, `/readyz`) and the scrape (`/metrics`)
 * are never rate limited, shed or asked for a token, and the API docs (`/swagger*`) need no token.
 * One definition, so the guards cannot disagree about which paths are exempt.
 *
 * Elysia serves `/healthz/` as `/healthz` (its `strictPath` is off), so a trailing slash must not
 * be a way around an exemption either: a load balancer probing `/healthz/` is still a probe.
 *
 * @example
 * ```ts
 * isProbePath('/healthz/') // true
 * isDocsPath('/swagger/json') // true
 * ```
 */

/** True for `/healthz`, `/readyz` and `/metrics`, with or without a trailing slash. */
export function isProbePath(path: string): boolean {
  // Only a path that ends in '/' pays for the slice; the hot path compares three strings.
  const p = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path
  return p === '/healthz' || p === '/readyz' || p === '/metrics'
}

/** True for the Swagger UI and the OpenAPI document (`/swagger`, `/swagger/…`). */
export function isDocsPath(path: string): boolean {
  return path === '/swagger' || path.startsWith('/swagger/')
}
