/**
 * `GET /files/*` and `HEAD /files/*`: static files from `FILES_DIR`, sent with `Bun.file`
 * (sendfile(2) for files on disk), with ETag / Last-Modified, 304s, single byte ranges (206 / 416)
 * and `Accept-Ranges: bytes`.
 *
 * Nothing outside `FILES_DIR` is ever served; see `./resolve.ts` for the rules (no `..`,
 * no hidden names, symlinks followed only when their target stays inside). Anything that cannot be
 * served, a directory included, is a 404 `not_found` envelope; `/files/` itself lists nothing.
 *
 * HEAD is answered in an `onRequest` hook rather than by a route: Elysia answers HEAD by running the
 * GET handler and reading the whole body to count it (the entire file, for a file), then replaces
 * any Content-Length the handler set. Answering here keeps HEAD a stat() and lets Bun send the
 * headers of the same `Response` without its body. The hook runs after the guards (the front's
 * stages: rate limit, auth), so they still apply. Its errors are bodiless responses with the
 * error's status (a HEAD answer has no body anyway). A GET of a file resolved before and unchanged
 * is answered in the same hook, synchronously ({@link cachedAnswer} says why); the route answers
 * the rest.
 *
 * @example
 * ```ts
 * app.use(fileRoutes(config.filesDir))
 * // curl -i localhost:3000/files/index.html
 * // curl -i -H 'Range: bytes=0-99' localhost:3000/files/big.bin    -> 206
 * ```
 */
import { Elysia, t } from 'elysia'
import { AppError } from '../../errors.ts'
import { ErrorSchema } from '../schemas.ts'
import { syncHook } from '../../http/sync-hook.ts'
import { policyOption } from '../../http/route-policy.ts'
import { STREAM } from '../policy.ts'
import { FileRoot } from './resolve.ts'
import type { CachedFile } from './cache.ts'
import { ifRangeAllows, isNotModified, parseRange } from './conditional.ts'

/** The URL prefix files are served under. */
export const FILES_PREFIX = '/files/'

/**
 * Answers a GET or HEAD for `rel` (the raw, percent-encoded path after `/files/`): synchronously
 * when the file was resolved before and is unchanged on disk (./cache.ts), so Bun sends the answer
 * in one write; after resolving it on the thread pool otherwise.
 *
 * @example
 * ```ts
 * await serveFile(new FileRoot('./public'), request, 'index.html') // Response 200
 * ```
 */
export function serveFile(root: FileRoot, request: Request, rel: string): Response | Promise<Response> {
  const hit = root.cached(rel)
  if (hit !== undefined) return answer(hit, request)
  return root.resolve(rel).then((file) => {
    if (file === null) throw new AppError('not_found', 'No such file')
    return answer(file, request)
  })
}

/** The 200, 206 or 304 for `file`; throws the 416. */
function answer(file: CachedFile, request: Request): Response {
  const asked = request.headers
  if (isNotModified(asked, file.etag, file.mtimeMs)) return new Response(null, { status: 304, headers: file.headers })
  // Bun opens the path for each answer (the body is always what is on disk now) and sends it
  // with sendfile(2), or read + one write for small files.
  const blob = Bun.file(file.path)
  const range = ifRangeAllows(asked.get('if-range'), file.etag, file.mtimeMs) ? parseRange(asked.get('range'), file.size) : null
  if (range === null) return new Response(blob, { headers: file.headers })
  if (range === 'unsatisfiable') {
    throw new AppError('range_not_satisfiable', `The range is outside the file's ${file.size} bytes`, {
      headers: { 'content-range': `bytes */${file.size}`, 'accept-ranges': 'bytes' },
    })
  }
  const headers = { ...file.headers, 'content-range': `bytes ${range.start}-${range.end}/${file.size}` }
  return new Response(blob.slice(range.start, range.end + 1), { status: 206, headers })
}

/**
 * The answer to a GET of a file resolved before and unchanged on disk, synchronously; undefined
 * otherwise (a miss, or a 416 to throw), and the route answers it.
 *
 * Why not the route alone: Elysia compiles a route whose handler returns a call's result as an
 * `async` handler (its source test, `matchFnReturn` in elysia/dist/compose.mjs), and this one
 * must return a promise on a miss; so every answer, hits included, went through an `await`, a
 * promise per request in the front (`track`) and its settling. Answered here, a hit is a plain
 * function call: CPU per 4 KB answer 68.4 → 62.2 µs, req/s ×1.13 (`BASE=<the commit before>
 * ENDPOINTS=file4k STACKS=full RAW=1 BENCH_ROUNDS=8 bun bench/http/ab.ts`, 2026-12-03 16:48Z,
 * load average ~9; raw `Bun.serve` + `Bun.file` 37.0 µs, its floor with the mandatory work 52.1).
 */
function cachedAnswer(root: FileRoot, request: Request, rel: string): Response | undefined {
  const hit = root.cached(rel)
  if (hit === undefined) return undefined
  try {
    return answer(hit, request)
  } catch {
    return undefined // a 416: the route throws it again, into the JSON envelope
  }
}

/** A failed HEAD as a bodiless response with the error's status and headers (e.g. 416's Content-Range). */
function headFailure(error: unknown): Response {
  if (error instanceof AppError) return new Response(null, { status: error.status, ...(error.headers ? { headers: error.headers } : {}) })
  return new Response(null, { status: 500 })
}

const FileBody = t.File({ description: 'The file\'s bytes, typed by its extension (application/octet-stream when unknown)' })

// Elysia fills `path` before onRequest hooks run, but its PreContext type does not declare it.
// The hook destructures its parameter: Elysia reads a hook's source to decide what to compute.
function withPath(fn: (facts: { request: Request; path: string }) => Response | Promise<Response> | undefined): (context: object) => unknown {
  return fn as (context: object) => unknown
}

/**
 * Elysia plugin serving `filesDir` under `/files/`. A missing directory is not an error: every
 * request is a 404 until it appears.
 *
 * @example
 * ```ts
 * new Elysia().use(fileRoutes('./public'))
 * ```
 */
export function fileRoutes(filesDir: string) {
  const root = new FileRoot(filesDir)
  return new Elysia({ name: 'highperf/routes/files', seed: filesDir })
    .use(policyOption)
    .onRequest(syncHook(withPath(({ request, path }) => {
      // One comparison on every other request; see the module comment for why HEAD and a cached
      // GET are answered here.
      if (!path.startsWith(FILES_PREFIX)) return undefined
      const method = request.method
      if (method === 'GET') return cachedAnswer(root, request, path.slice(FILES_PREFIX.length))
      if (method !== 'HEAD') return undefined
      // Always resolves to a Response (errors included), as a syncHook's promise must; a cache
      // hit is answered synchronously (a 416 then throws right here).
      try {
        const answered = serveFile(root, request, path.slice(FILES_PREFIX.length))
        return answered instanceof Promise ? answered.catch(headFailure) : answered
      } catch (error) {
        return headFailure(error)
      }
    })))
    .get('/files/*', ({ request, path }) => serveFile(root, request, path.slice(FILES_PREFIX.length)), {
      policy: STREAM,
      // No params schema: Elysia's validator compiler cannot mirror a property named '*' (it
      // prints "Failed to create exactMirror"); the path is read raw from the context instead.
      detail: {
        summary: 'Downloads a file from FILES_DIR',
        description:
          'Sent with sendfile. ETag and Last-Modified; 304 on If-None-Match / If-Modified-Since. ' +
          'Range: bytes=a-b, a- or -n -> 206 with Content-Range (one range; several are answered with the whole file); ' +
          '416 with Content-Range: bytes */size when unsatisfiable. HEAD gives the same headers without the body. ' +
          '404 for anything missing, a directory, a hidden name (leading dot), or a path leaving FILES_DIR.',
        tags: ['files'],
        parameters: [
          { name: 'Range', in: 'header', required: false, schema: { type: 'string' }, example: 'bytes=0-99' },
          { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
          { name: 'If-Modified-Since', in: 'header', required: false, schema: { type: 'string' } },
        ],
      },
      response: {
        200: FileBody,
        206: t.File({ description: 'The requested byte range' }),
        304: t.Void({ description: 'Not modified' }),
        400: ErrorSchema,
        404: ErrorSchema,
        416: ErrorSchema,
      },
    })
}
