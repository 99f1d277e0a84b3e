/**
 * Cache validators for JSON reads of one resource (`GET /users/:id`, `/messages/:id`, `/jobs/:id`):
 * an `ETag` computed from the answer's bytes, and `304 Not Modified` when the client's
 * `If-None-Match` already names it (RFC 9110 §8.8.3, §13.1.2).
 *
 * Why a hash of the bytes and not a version column: the bytes are what the client holds, so any
 * change it could see (a job's state, progress or message, a user's new email) changes the tag,
 * and nothing has to remember to bump a counter. `Bun.hash` (wyhash, 64 bits) of a user's JSON
 * costs ~0.1 µs with the hex formatting, about as much as the `JSON.stringify` that made the
 * text (`bun bench/etag/index.ts`).
 *
 * Why weak (`W/"…"`): a later stage may compress the answer, and a strong tag must differ between
 * content codings (RFC 9110 §8.8.3.3); a weak tag promises only semantic equivalence, which every
 * coding of the same JSON keeps. `If-None-Match` compares weakly anyway (§13.1.2), so a client
 * that echoes the tag with or without `W/` gets its 304.
 *
 * `Cache-Control: no-cache` goes with the tag: a cache may keep the answer but must ask again
 * (cheaply, with the tag) before reusing it, so a running job's progress is never served stale.
 *
 * @example
 * ```ts
 * .get('/users/:id', ({ params, request }) => jsonWithEtag(request, JSON.stringify(users.get(Number(params.id)))))
 * ```
 */

/** `Content-Type` of the JSON answers. */
const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * `Cache-Control` sent with every tagged answer and its 304 (see the module comment).
 *
 * @example res.headers.get('cache-control') === ETAG_CACHE_CONTROL
 */
export const ETAG_CACHE_CONTROL = 'no-cache'

/**
 * The weak entity tag of `body`: `W/"` + 16 hex digits of its 64-bit wyhash + `"`.
 *
 * @example etagOf('{"id":1}') // 'W/"…16 hex digits…"'
 */
export function etagOf(body: string): string {
  return `W/"${Bun.hash(body).toString(16).padStart(16, '0')}"`
}

/** The opaque part of a tag (`"…"` with the quotes), without any `W/` prefix. */
function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag
}

/**
 * True when `header` (an `If-None-Match` value, or null when absent) matches `etag` by weak
 * comparison (RFC 9110 §8.8.3.2: the opaque tags are equal, either may be weak): `*` matches any
 * current representation; otherwise a comma-separated list of entity tags. A list member that is
 * not an entity tag (unquoted, unterminated) is skipped, never a match: a malformed condition
 * costs the client a full 200, never a wrong 304. Commas inside a quoted tag are part of it.
 *
 * @example
 * ```ts
 * ifNoneMatch('"abc"', 'W/"abc"')           // true: weak comparison
 * ifNoneMatch('"x", W/"abc"', 'W/"abc"')    // true: a list
 * ifNoneMatch('*', 'W/"abc"')               // true
 * ifNoneMatch(null, 'W/"abc"')              // false
 * ```
 */
export function ifNoneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false
  if (header.trim() === '*') return true
  const want = opaque(etag)
  const n = header.length
  let i = 0
  while (i < n) {
    // Skip separators and optional whitespace between members.
    let c = header.charCodeAt(i)
    if (c === 0x2c || c === 0x20 || c === 0x09) {
      i++
      continue
    }
    let start = i
    if (c === 0x57 /* W */ && header.charCodeAt(i + 1) === 0x2f /* / */) {
      i += 2
      start = i
      c = header.charCodeAt(i)
    }
    if (c !== 0x22 /* " */) {
      // Not an entity tag: skip to the next comma.
      const comma = header.indexOf(',', i)
      if (comma === -1) return false
      i = comma + 1
      continue
    }
    const close = header.indexOf('"', i + 1)
    if (close === -1) return false // unterminated: nothing after it can be read as a tag
    if (header.slice(start, close + 1) === want) return true
    i = close + 1
  }
  return false
}

/**
 * Extra settings of {@link jsonWithEtag}.
 *
 * @example jsonWithEtag(request, json, { headers: { location: '/jobs/1' } })
 */
export interface TaggedAnswerOptions {
  /** Headers the route already set (Location…); the tag and the content type win over them. */
  headers?: Record<string, string>
}

/**
 * The answer of a JSON read of one resource: 200 with `json`, its `ETag` and `Cache-Control`, or
 * a bodiless 304 with the same two headers when the request's `If-None-Match` matches (GET and
 * HEAD only: for any other method the condition does not apply, RFC 9110 §13.1.2).
 *
 * @example
 * ```ts
 * return jsonWithEtag(request, JSON.stringify(user))
 * ```
 */
export function jsonWithEtag(request: Request, json: string, options: TaggedAnswerOptions = {}): Response {
  const etag = etagOf(json)
  const method = request.method
  const extra = options.headers
  if ((method === 'GET' || method === 'HEAD') && ifNoneMatch(request.headers.get('if-none-match'), etag)) {
    const headers = { etag, 'cache-control': ETAG_CACHE_CONTROL }
    return new Response(null, { status: 304, headers: extra === undefined ? headers : { ...extra, ...headers } })
  }
  // Literal objects, no spread, on the common path: the spread doubled the cost of the answer.
  const headers = { 'content-type': JSON_TYPE, etag, 'cache-control': ETAG_CACHE_CONTROL }
  return new Response(json, { status: 200, headers: extra === undefined ? headers : { ...extra, ...headers } })
}
