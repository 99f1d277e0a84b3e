/**
 * HTTP validators and ranges for static files (RFC 9110 §8.8, §13, §14): ETag and Last-Modified
 * from size + mtime, the 304 decision, and single byte ranges.
 *
 * The ETag is strong, `"<size hex>-<mtime ms hex>"`, as nginx does: a file rewritten within the
 * same millisecond with the same size would keep its tag, an accepted trade for not hashing files.
 * Being strong lets it validate `If-Range`, so a resumed download never mixes two versions.
 *
 * @example
 * ```ts
 * const tag = etagOf(1234, 1700000000000)          // '"4d2-18bcfe56800"'
 * isNotModified(request.headers, tag, mtimeMs)     // true -> answer 304
 * parseRange('bytes=0-99', 1234)                   // { start: 0, end: 99 }
 * ```
 */

/** A satisfiable byte range, both ends inclusive. */
export interface ByteRange {
  start: number
  end: number
}

/**
 * The strong ETag of a file of `size` bytes last modified at `mtimeMs`.
 *
 * @example etagOf(10, 1000) // '"a-3e8"'
 */
export function etagOf(size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`
}

/**
 * The HTTP date of `mtimeMs` (second precision, as the header carries).
 *
 * @example httpDate(0) // 'Thu, 01 Jan 1970 00:00:00 GMT'
 */
export function httpDate(mtimeMs: number): string {
  return new Date(mtimeMs).toUTCString()
}

const opaque = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag)

/** True when an `If-None-Match` list matches `etag` by the weak comparison (or is `*`). */
function noneMatchHits(header: string, etag: string): boolean {
  const mine = opaque(etag)
  for (const part of header.split(',')) {
    const tag = part.trim()
    if (tag === '*' || opaque(tag) === mine) return true
  }
  return false
}

/**
 * Whether a GET/HEAD may be answered 304: `If-None-Match` decides when present (weak
 * comparison); otherwise `If-Modified-Since` does, at one-second precision. An unparsable date
 * is ignored, as the RFC asks.
 *
 * @example
 * ```ts
 * isNotModified(new Headers({ 'if-none-match': '"a-3e8"' }), '"a-3e8"', 1000) // true
 * ```
 */
export function isNotModified(headers: Headers, etag: string, mtimeMs: number): boolean {
  const inm = headers.get('if-none-match')
  if (inm !== null) return noneMatchHits(inm, etag)
  const ims = headers.get('if-modified-since')
  if (ims === null) return false
  const since = Date.parse(ims)
  if (Number.isNaN(since)) return false
  return Math.floor(mtimeMs / 1000) <= Math.floor(since / 1000)
}

/**
 * Whether a `Range` should be honoured given `If-Range`: absent, or naming the current strong
 * ETag, or exactly the current Last-Modified date. Otherwise the full file is sent (200).
 *
 * @example ifRangeAllows(null, '"a-3e8"', 1000) // true
 */
export function ifRangeAllows(ifRange: string | null, etag: string, mtimeMs: number): boolean {
  if (ifRange === null) return true
  const v = ifRange.trim()
  if (v.startsWith('"')) return v === etag
  if (v.startsWith('W/')) return false
  const date = Date.parse(v)
  return !Number.isNaN(date) && Math.floor(date / 1000) === Math.floor(mtimeMs / 1000)
}

const RANGE = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i

/**
 * Interprets a `Range` header against a file of `size` bytes:
 * - a `ByteRange` for one satisfiable range (`bytes=a-b`, `bytes=a-`, `bytes=-n`; `b` is
 *   clamped to the last byte);
 * - `'unsatisfiable'` when the range starts past the end (or asks for the last 0 bytes, or the file
 *   is empty): answer 416 with `Content-Range: bytes *\/size`;
 * - `null` when the header should be ignored and the whole file sent: absent, not `bytes`,
 *   malformed (e.g. `a > b`), or several ranges (multipart answers are not supported; the RFC lets
 *   a server send the whole representation instead).
 *
 * @example
 * ```ts
 * parseRange('bytes=-10', 100)  // { start: 90, end: 99 }
 * parseRange('bytes=200-', 100) // 'unsatisfiable'
 * parseRange('bytes=5-2', 100)  // null
 * ```
 */
export function parseRange(header: string | null, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === null) return null
  const m = RANGE.exec(header)
  if (m === null) return null
  const [, first = '', last = ''] = m
  if (first === '' && last === '') return null
  if (first === '') {
    // Suffix range: the last n bytes.
    const n = Number(last)
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(first)
  const end = last === '' ? size - 1 : Number(last)
  if (last !== '' && end < start) return null
  if (start >= size) return 'unsatisfiable'
  return { start, end: Math.min(end, size - 1) }
}
