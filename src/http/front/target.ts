/**
 * The request target: where the path of a request starts in `request.url`, found once by the front
 * and made to be the path Elysia routes by, so the route the guards judge is the route that runs.
 *
 * Why this is its own step: Bun hands over `request.url` in one of three shapes, and Elysia 1.4
 * reads the path with `url.indexOf('/', 11)` (its compiled handler, `getPath`), which assumes
 * `http://` plus a host of at least four characters:
 *
 * | what the client sent                          | `request.url` from Bun      | Elysia's path   |
 * | --------------------------------------------- | --------------------------- | --------------- |
 * | `Host: localhost:3000`                        | `http://localhost:3000/a/b` | `/a/b`          |
 * | `Host: x` (or `db`, `api`, `x:80`, `x:1`)     | `http://x/swagger/users`    | `/users` (!)    |
 * | HTTP/1.0 without Host, `Host:` empty          | `/a/b` (relative)           | depends on length |
 * | a Host Bun judges invalid (`a/b`, `x, y`, …)  | `/a/b` (relative)           | depends on length |
 *
 * (An absolute-form target, `GET http://x/a HTTP/1.1`, gives the Host header's URL, like the
 * others; Bun answers `OPTIONS *` and malformed targets with its own 400.)
 *
 * So {@link locatePath} finds the real start (the first `/` after `scheme://`, or 0 for a relative
 * URL). When it is at index 11 or later, Elysia's `indexOf('/', 11)` finds the same `/` (a host
 * holds no `/`): that is the hot path, one `indexOf` over the host. Otherwise {@link canonicalUrl}
 * writes the same URL in a form whose path starts at 11 or later, and the front shadows the
 * request's `url` with it (an own property on that one Request object: its body, signal and
 * `server.requestIP` stay as they were).
 *
 * @example
 * ```ts
 * const url = 'http://x/swagger/users'
 * locatePath(url)          // 8
 * canonicalUrl(url, 8)     // 'http://x:80/swagger/users' (the same URL: its default port written out)
 * ```
 */
import { AppError } from '../../errors.ts'

/** Index from which Elysia 1.4 looks for the path's first `/` (`standardHostname`, its default). */
export const ELYSIA_PATH_FROM = 11

/** What {@link locatePath} answers for a target that is neither a path nor an http(s) URL. */
export const NOT_A_PATH = -1

/**
 * Where the path starts in a `request.url` as Bun hands it over: 0 for a relative URL (`/a/b`),
 * the first `/` after the authority for `http://` and `https://` URLs, {@link NOT_A_PATH} for
 * anything else (a CONNECT's `host:port`, an http URL without a path).
 *
 * @example locatePath('https://db/users?x=1') // 10
 */
export function locatePath(url: string): number {
  if (url.charCodeAt(0) === 47 /* / */) return 0
  // "http://" or "https://": the scheme is checked by character, no slicing.
  let from: number
  if (url.charCodeAt(4) === 58 /* : */) from = 7
  else if (url.charCodeAt(4) === 115 /* s */ && url.charCodeAt(5) === 58) from = 8
  else return NOT_A_PATH
  if (url.charCodeAt(from - 1) !== 47 || url.charCodeAt(from - 2) !== 47 || !url.startsWith('http')) return NOT_A_PATH
  return url.indexOf('/', from)
}

/**
 * The path of `url` whose path starts at `start`: up to the query, exactly as Elysia cuts it
 * (a `#fragment` a client sent stays part of it, for Elysia too, so it matches no route).
 *
 * @example pathAt('http://localhost/users/7?x=1', 16) // '/users/7'
 */
export function pathAt(url: string, start: number): string {
  const q = url.indexOf('?', start + 1)
  return q === -1 ? url.slice(start) : url.slice(start, q)
}

/** The host the canonical form of a relative URL names (there was none, or an empty one). */
export const HOSTLESS_ORIGIN = 'http://localhost'

/**
 * `url` (whose path starts at `start`, below {@link ELYSIA_PATH_FROM}) rewritten so that its path
 * starts at or after that index, naming the same resource:
 * - a relative URL gets the origin {@link HOSTLESS_ORIGIN} (the client named no host);
 * - a short authority gets its port written out, with leading zeros where still too short
 *   (`http://x/` becomes `http://x:80/`, `http://x:1/` becomes `http://x:01/`): a URL parser
 *   reads the same host and port, so `new URL(request.url)` still tells the truth.
 *
 * @example canonicalUrl('/users?x=1', 0) // 'http://localhost/users?x=1'
 */
export function canonicalUrl(url: string, start: number): string {
  if (start === 0) return HOSTLESS_ORIGIN + url
  const from = url.charCodeAt(4) === 58 ? 7 : 8
  const authority = url.slice(from, start)
  // A port follows the last ':' unless that ':' is inside an IPv6 literal ("[::1]").
  const colon = authority.lastIndexOf(':')
  const hasPort = colon !== -1 && colon > authority.lastIndexOf(']')
  const host = hasPort ? authority.slice(0, colon) : authority
  let port = hasPort ? authority.slice(colon + 1) : ''
  if (port === '') port = from === 7 ? '80' : '443'
  const digits = Math.max(port.length, ELYSIA_PATH_FROM - (from + host.length + 1))
  return `${url.slice(0, from)}${host}:${port.padStart(digits, '0')}${url.slice(start)}`
}

/** What {@link retarget} decided for a request whose path Elysia would not find by itself. */
export interface Retargeted {
  /** The path every decision uses. */
  path: string
  /** Set when the request must be refused instead (its target or Host is not one we serve). */
  refusal?: AppError
}

/**
 * The rare path of the front (see the module comment): `request`'s URL, whose path starts at
 * `start` (below {@link ELYSIA_PATH_FROM}), either refused or shadowed by its {@link canonicalUrl}.
 * - no path at all (a CONNECT's `host:port`): 400 `bad_request`;
 * - a relative URL while a non-empty Host was sent: Bun judged that Host invalid (`a/b`, `x, y`,
 *   `user@h`…), and RFC 9112 §3.2 says 400: `invalid_host`. HTTP/1.0 without Host and an empty
 *   Host (RFC 9112 §3.2: what a client sends when the target has no authority) are served.
 *
 * @example retarget(new Request('http://x/healthz'), 'http://x/healthz', 8) // { path: '/healthz' }, request.url is now 'http://x:80/healthz'
 */
export function retarget(request: Request, url: string, start: number): Retargeted {
  if (start === NOT_A_PATH) {
    return { path: url, refusal: new AppError('bad_request', 'The request target must be a path (/users) or an http(s) URL; CONNECT and other target forms are not served') }
  }
  if (start === 0) {
    const host = request.headers.get('host')
    if (host !== null && host !== '') return { path: pathAt(url, 0), refusal: invalidHost() }
  }
  const canonical = canonicalUrl(url, start)
  // An own property on this Request only: Elysia (and every handler) reads the canonical URL,
  // while the body, the abort signal and `server.requestIP(request)` stay the native object's.
  Object.defineProperty(request, 'url', { value: canonical, configurable: true, enumerable: true })
  return { path: pathAt(canonical, canonical.indexOf('/', ELYSIA_PATH_FROM)) }
}

/**
 * The refusal of a request whose Host header is invalid or sent more than once (RFC 9112 §3.2).
 *
 * @example throw invalidHost()
 */
export function invalidHost(): AppError {
  return new AppError('invalid_host', 'The Host header is invalid or sent more than once; send one host[:port]')
}
