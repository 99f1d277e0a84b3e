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
 * routes.allow('/users/7')          // { match: { template: '/users/:id', … }, allow: 'GET, HEAD, OPTIONS' }: PUT is a 405
 * ```
 *
 * {@link RouteTable.allow} answers the other question a miss raises: does the path exist under
 * other methods (405 with `Allow`, and what `OPTIONS` answers), or not at all (404)? It runs only
 * after `match` missed, so the hot path never pays for it.
 */
import { DEFAULT_POLICY, routePolicy, UNMATCHED, UNMATCHED_POLICY, type RouteMatch, type RoutePolicyInput } from '../route-policy.ts'

/**
 * A path that exists under other methods than the one asked: its template (what metrics and the
 * access log name it by) and the `Allow` header value, e.g. `GET, HEAD, OPTIONS, POST`.
 */
export interface Allowed {
  /** The path's template, with the policy of a request that runs no route ({@link UNMATCHED_POLICY}). */
  readonly match: RouteMatch
  /** The methods the path answers, HEAD (for GET) and OPTIONS included, in a fixed order. */
  readonly allow: string
}

// The order `Allow` lists methods in: the usual ones first, anything else after, by name.
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
const rank = (m: string): number => {
  const i = METHOD_ORDER.indexOf(m)
  return i === -1 ? METHOD_ORDER.length : i
}

/** The `Allow` value of a set of route methods: HEAD with GET (Elysia serves it), OPTIONS always (the front answers it). */
function allowOf(methods: Iterable<string>): string {
  const set = new Set(methods)
  if (set.has('GET')) set.add('HEAD')
  set.add('OPTIONS')
  return [...set].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)).join(', ')
}

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
  /** {@link allow}'s answers, one frozen object per template and method set, made on first use. */
  readonly #allowed = new Map<string, Allowed>()
  /** Every method some route answers, as an `Allow` value (a CORS preflight of an unknown path). */
  #methods = ''

  constructor(routes: Iterable<RouteSpec>) {
    for (const { method, path, hooks } of routes) this.add(method, path, hooks)
  }

  /** Adds a route (later additions of the same method and path are ignored, as Elysia keeps the first). */
  add(method: string, template: string, hooks?: object): void {
    this.#methods = ''
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

  /**
   * The methods `path` answers when `match` missed it: undefined when no route has the path under
   * any method (a 404), else its template and `Allow` value (a 405, or what OPTIONS answers).
   * Cold path: a route table of every method is walked; only misses pay it.
   */
  allow(path: string): Allowed | undefined {
    const p = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path
    const methods: string[] = []
    let template: string | undefined
    const byMethod = this.#static.get(p)
    if (byMethod !== undefined) {
      for (const [method, match] of byMethod) {
        methods.push(method)
        template ??= match.template
      }
    }
    const segments = p.split('/')
    const first = segments[1] ?? ''
    for (const [list, firstIsParam] of [[this.#dynamic.get(first), false], [this.#dynamic.get(''), true]] as const) {
      for (const pattern of list ?? []) {
        if (firstIsParam && (segments[1] === undefined || segments[1] === '')) continue
        if (!fits(pattern, segments)) continue
        methods.push(pattern.method)
        template ??= pattern.match.template
      }
    }
    // `ALL` answers every method: `match` would not have missed.
    if (template === undefined || methods.includes('ALL')) return undefined
    const allow = allowOf(methods)
    const key = `${template} ${allow}`
    let allowed = this.#allowed.get(key)
    if (allowed === undefined) {
      allowed = Object.freeze({ match: Object.freeze({ template, policy: UNMATCHED_POLICY }), allow })
      this.#allowed.set(key, allowed)
    }
    return allowed
  }

  /**
   * Every method some route of the table answers, as an `Allow` value: what a CORS preflight of a
   * path no route has may use, so the browser sends the request and its script reads the 404.
   */
  methods(): string {
    if (this.#methods === '') {
      const all: string[] = []
      for (const byMethod of this.#static.values()) all.push(...byMethod.keys())
      for (const list of this.#dynamic.values()) for (const pattern of list) all.push(pattern.method)
      this.#methods = allowOf(all.filter((m) => m !== 'ALL'))
    }
    return this.#methods
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
