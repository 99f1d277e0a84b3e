/**
 * The route template of a request, found before the route runs: the stages key the breaker, the
 * deadline and the metrics by template (`/users/:id`), never by raw path (cardinality).
 *
 * Built once from the Elysia app's route list and matched with the same rules Elysia routes by:
 * `:name` takes one segment, a final `*` the rest, one trailing slash is ignored (Elysia's
 * `strictPath` is off), HEAD falls back to GET and `ALL` matches any method. Static paths are one
 * Map lookup; parameterised routes are grouped by their first segment, so a request compares
 * against a handful of patterns at most.
 *
 * @example
 * ```ts
 * const routes = new RouteTable([{ method: 'GET', path: '/users/:id' }])
 * routes.match('GET', '/users/7') // '/users/:id'
 * routes.match('GET', '/nope')    // 'unmatched'
 * ```
 */

/** The `route` of requests that match no route. */
export const UNMATCHED_ROUTE = 'unmatched'

/** A route as Elysia lists it (`app.routes`). */
export interface RouteSpec {
  method: string
  path: string
}

interface Pattern {
  method: string
  template: string
  /** Segments after the first; `null` for a parameter. */
  rest: Array<string | null>
  /** True when the last segment is `*` (matches one or more remaining segments, or none). */
  wildcard: boolean
}

/** Method → template, per static path. */
type ByMethod = Map<string, string>

function methodMatch(byMethod: ByMethod, method: string): string | undefined {
  return byMethod.get(method) ?? (method === 'HEAD' ? byMethod.get('GET') : undefined) ?? byMethod.get('ALL')
}

/** Route templates of an app, matched by method and path. */
export class RouteTable {
  readonly #static = new Map<string, ByMethod>()
  /** Keyed by the first segment; '' holds patterns whose first segment is a parameter. */
  readonly #dynamic = new Map<string, Pattern[]>()

  constructor(routes: Iterable<RouteSpec>) {
    for (const { method, path } of routes) this.add(method, path)
  }

  /** Adds a route (later additions of the same method and path are ignored, as Elysia keeps the first). */
  add(method: string, template: string): void {
    const path = template.length > 1 && template.endsWith('/') ? template.slice(0, -1) : template
    if (!path.includes(':') && !path.includes('*')) {
      let byMethod = this.#static.get(path)
      if (byMethod === undefined) this.#static.set(path, (byMethod = new Map()))
      if (!byMethod.has(method)) byMethod.set(method, template)
      return
    }
    const segments = path.split('/').slice(1)
    const wildcard = segments[segments.length - 1] === '*'
    if (wildcard) segments.pop()
    const first = segments[0] ?? ''
    const key = first.startsWith(':') ? '' : first
    const pattern: Pattern = {
      method,
      template,
      rest: segments.slice(1).map((s) => (s.startsWith(':') ? null : s)),
      wildcard,
    }
    // `/files/*` has no segment after the wildcard's parent: its first segment is the key.
    if (wildcard && segments.length === 0) pattern.rest = []
    let list = this.#dynamic.get(key)
    if (list === undefined) this.#dynamic.set(key, (list = []))
    list.push(pattern)
  }

  /** The template of `method path` (path without query), or {@link UNMATCHED_ROUTE}. */
  match(method: string, path: string): string {
    const p = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path
    const byMethod = this.#static.get(p)
    if (byMethod !== undefined) {
      const hit = methodMatch(byMethod, method)
      if (hit !== undefined) return hit
    }
    if (this.#dynamic.size === 0) return UNMATCHED_ROUTE
    const segments = p.split('/')
    // segments[0] is '' (the path starts with '/').
    const first = segments[1] ?? ''
    return this.#scan(this.#dynamic.get(first), method, segments, false)
      ?? this.#scan(this.#dynamic.get(''), method, segments, true)
      ?? UNMATCHED_ROUTE
  }

  #scan(list: Pattern[] | undefined, method: string, segments: string[], firstIsParam: boolean): string | undefined {
    if (list === undefined) return undefined
    let fallback: string | undefined
    for (const pattern of list) {
      if (pattern.method !== method && pattern.method !== 'ALL' && !(method === 'HEAD' && pattern.method === 'GET')) continue
      if (firstIsParam && (segments[1] === undefined || segments[1] === '')) continue
      if (!fits(pattern, segments)) continue
      // An exact method wins over GET-for-HEAD and ALL, as in the static case.
      if (pattern.method === method) return pattern.template
      fallback ??= pattern.template
    }
    return fallback
  }
}

function fits(pattern: Pattern, segments: string[]): boolean {
  const rest = pattern.rest
  // segments: ['', first, ...rest of the request]
  const given = segments.length - 2
  if (pattern.wildcard ? given < rest.length : given !== rest.length) return false
  for (let i = 0; i < rest.length; i++) {
    const want = rest[i]
    const got = segments[i + 2] as string
    if (want === null) {
      if (got === '') return false
    } else if (want !== got) return false
  }
  return true
}
