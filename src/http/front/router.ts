/**
 * The route of a request, found before the route runs: its template and its policy. The stages
 * key the breaker, the deadline and the metrics by template (`/users/:id`), never by raw path
 * (cardinality), and read what the route declared of them from its policy
 * (src/http/route-policy.ts).
 *
 * Built once from the Elysia app's route list (`app.routes`: each route's method, template and
 * hooks, where its `policy` option is) and matched with the same rules Elysia routes by: `:name`
 * takes one segment, a final `*` the rest, one trailing slash is ignored (Elysia's `strictPath` is
 * off), HEAD falls back to GET and `ALL` matches any method. Static paths are one Map lookup;
 * parameterised routes are grouped by their first segment, so a request compares against a
 * handful of patterns at most. A match is the route's own {@link RouteMatch} object, made at
 * build: matching allocates nothing.
 *
 * @example
 * ```ts
 * const routes = new RouteTable([{ method: 'GET', path: '/users/:id', hooks: { policy: { deadline: 'hot-read' } } }])
 * routes.match('GET', '/users/7')  // { template: '/users/:id', policy: { deadline: 'hot-read', … } }
 * routes.match('GET', '/nope')     // UNMATCHED: { template: 'unmatched', … }
 * ```
 */
import { DEFAULT_POLICY, routePolicy, UNMATCHED, type RouteMatch, type RoutePolicyInput } from '../route-policy.ts'

/** A route as Elysia lists it (`app.routes`). */
export interface RouteSpec {
  method: string
  path: string
  /** The route's options; `policy` is read from them. */
  hooks?: object
}

interface Pattern {
  method: string
  match: RouteMatch
  /** Segments after the first; `null` for a parameter. */
  rest: Array<string | null>
  /** True when the last segment is `*` (matches one or more remaining segments, or none). */
  wildcard: boolean
}

/** Method → match, per static path. */
type ByMethod = Map<string, RouteMatch>

function methodMatch(byMethod: ByMethod, method: string): RouteMatch | undefined {
  return byMethod.get(method) ?? (method === 'HEAD' ? byMethod.get('GET') : undefined) ?? byMethod.get('ALL')
}

/** The match of a route: its template and its declared policy, checked (a bad one throws at start). */
function matchOf(method: string, template: string, hooks: object | undefined): RouteMatch {
  const declared = (hooks as { policy?: RoutePolicyInput } | undefined)?.policy
  const policy = declared === undefined ? DEFAULT_POLICY : routePolicy(declared, `${method} ${template}`)
  return Object.freeze({ template, policy })
}

/** Route templates and policies of an app, matched by method and path. */
export class RouteTable {
  readonly #static = new Map<string, ByMethod>()
  /** Keyed by the first segment; '' holds patterns whose first segment is a parameter. */
  readonly #dynamic = new Map<string, Pattern[]>()

  constructor(routes: Iterable<RouteSpec>) {
    for (const { method, path, hooks } of routes) this.add(method, path, hooks)
  }

  /** Adds a route (later additions of the same method and path are ignored, as Elysia keeps the first). */
  add(method: string, template: string, hooks?: object): void {
    const path = template.length > 1 && template.endsWith('/') ? template.slice(0, -1) : template
    if (!path.includes(':') && !path.includes('*')) {
      let byMethod = this.#static.get(path)
      if (byMethod === undefined) this.#static.set(path, (byMethod = new Map()))
      if (!byMethod.has(method)) byMethod.set(method, matchOf(method, template, hooks))
      return
    }
    const segments = path.split('/').slice(1)
    const wildcard = segments[segments.length - 1] === '*'
    if (wildcard) segments.pop()
    const first = segments[0] ?? ''
    const key = first.startsWith(':') ? '' : first
    const pattern: Pattern = {
      method,
      match: matchOf(method, template, hooks),
      rest: segments.slice(1).map((s) => (s.startsWith(':') ? null : s)),
      wildcard,
    }
    // `/files/*` has no segment after the wildcard's parent: its first segment is the key.
    if (wildcard && segments.length === 0) pattern.rest = []
    let list = this.#dynamic.get(key)
    if (list === undefined) this.#dynamic.set(key, (list = []))
    list.push(pattern)
  }

  /** The route of `method path` (path without query), or {@link UNMATCHED}. */
  match(method: string, path: string): RouteMatch {
    const p = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path
    const byMethod = this.#static.get(p)
    if (byMethod !== undefined) {
      const hit = methodMatch(byMethod, method)
      if (hit !== undefined) return hit
    }
    if (this.#dynamic.size === 0) return UNMATCHED
    const segments = p.split('/')
    // segments[0] is '' (the path starts with '/').
    const first = segments[1] ?? ''
    return this.#scan(this.#dynamic.get(first), method, segments, false)
      ?? this.#scan(this.#dynamic.get(''), method, segments, true)
      ?? UNMATCHED
  }

  #scan(list: Pattern[] | undefined, method: string, segments: string[], firstIsParam: boolean): RouteMatch | undefined {
    if (list === undefined) return undefined
    let fallback: RouteMatch | undefined
    for (const pattern of list) {
      if (pattern.method !== method && pattern.method !== 'ALL' && !(method === 'HEAD' && pattern.method === 'GET')) continue
      if (firstIsParam && (segments[1] === undefined || segments[1] === '')) continue
      if (!fits(pattern, segments)) continue
      // An exact method wins over GET-for-HEAD and ALL, as in the static case.
      if (pattern.method === method) return pattern.match
      fallback ??= pattern.match
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
