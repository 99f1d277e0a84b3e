/**
 * Body limit: a request body over `MAX_BODY_SIZE` gets a 413 with the JSON error envelope, whether
 * the client declared its length or streamed it chunked. Two parts, for the two cases:
 * - {@link declaredBodyLimit}, a stage of the front, first of the guards: a `Content-Length` over
 *   the limit, on any method, is refused before anything else looks at the request.
 * - {@link bodyLimit}, an Elysia plugin: a body without a declared length is counted as it is read.
 *
 * Why not just Bun's `maxRequestBodySize`: Bun answers an oversize body itself with a bare
 * `413` and no body, before the app sees the request (declared length) or while the app reads it
 * (chunked), so the client never gets the envelope or its request id. So `server.ts` gives Bun
 * {@link BUN_BODY_CEILING} and this plugin enforces the real limit:
 * - `Content-Length` over the limit: answered at once, unread, with `Connection: close` (Bun then
 *   drops the connection instead of draining the body). The stage does it for every method (a
 *   GET declaring 10 GB would otherwise be read and thrown away after its answer, to keep the
 *   connection), before the other guards: an unauthenticated client declaring an oversize body
 *   gets the 413 and a closed connection, not a 401 on a connection Bun must then drain.
 *   `Expect: 100-continue`: Bun writes `100 Continue` itself before any JavaScript runs (uWS does,
 *   for every route; Bun.serve has no option to stop it), so the 413 is the next bytes in the same
 *   write, and a client (curl) reads both and never sends the body (docs/operations.md).
 * - no `Content-Length` but a body (chunked): the request's body readers (`json()`, `text()`,
 *   `arrayBuffer()`, `body`, …) are pointed at a copy of the stream that counts bytes and fails
 *   with `AppError('payload_too_large')` past the limit (see {@link limitBody}). Nothing is read
 *   unless a route reads the body, and the `Request` object stays the one the server handed over,
 *   so `server.requestIP(request)` and the request's state (src/http/request-state.ts) keep
 *   working. A route reading the body itself gets the AppError (recovery answers 413); Elysia's
 *   parsers wrap it in a `ParseError`, which this plugin's error hook turns back into the 413 (so
 *   mount it before recovery).
 *
 * The request hook is synchronous (declared so with {@link syncHook}): GET and HEAD cost one
 * comparison, other requests one header lookup; nothing makes every request await.
 *
 * @example
 * ```ts
 * app.use(bodyLimit(config.maxBodySize)).use(recovery(log))
 * ```
 */
import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import { errorResponse } from '../error-response.ts'
import type { Stage } from '../front/index.ts'
import { requestIdOf } from '../request-id/index.ts'
import { syncHook } from '../sync-hook.ts'

/**
 * The `maxRequestBodySize` given to `Bun.serve`: effectively unlimited, so every oversize request
 * reaches {@link bodyLimit} and gets the envelope. Memory stays bounded because a declared body
 * over the limit is never read and a chunked one is cut off at the limit.
 */
export const BUN_BODY_CEILING = Number.MAX_SAFE_INTEGER

function tooLargeError(max: number): AppError {
  return new AppError('payload_too_large', `The request body is larger than ${max} bytes`, { headers: { connection: 'close' } })
}

// The envelope with `Connection: close`, from Elysia's hooks (the front renders the stage's throw).
function tooLarge(max: number, request: Request): Response {
  return errorResponse(tooLargeError(max), requestIdOf(request))
}

/**
 * Stage: a declared `Content-Length` over `maxBytes`, on any method, is refused with 413
 * `payload_too_large` and `Connection: close` before the body is read. Put it first of the guards.
 *
 * @example stages.push(declaredBodyLimit(config.maxBodySize), maxInflight(...), ...)
 */
export function declaredBodyLimit(maxBytes: number): Stage {
  return {
    name: 'body-limit',
    before(state) {
      const declared = state.request.headers.get('content-length')
      // Bun refuses a malformed Content-Length with 400 before the app runs, so this is a number.
      if (declared !== null && Number(declared) > maxBytes) throw tooLargeError(maxBytes)
    },
  }
}

const BODY_READERS = ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text', 'clone'] as const

/**
 * Makes every way of reading `request`'s body go through a byte counter that fails with
 * `AppError('payload_too_large')` once more than `max` bytes arrived. Only this instance changes
 * (its readers and `body`/`bodyUsed` getters now use a stand-in `Request` on the counted stream).
 *
 * @example
 * ```ts
 * limitBody(request, 1024)
 * await request.text() // rejects with AppError('payload_too_large') past 1 KiB
 * ```
 */
export function limitBody(request: Request, max: number): void {
  const source = request.body
  if (source === null) return
  let total = 0
  const counted = source.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      total += chunk.byteLength
      if (total > max) controller.error(tooLargeError(max))
      else controller.enqueue(chunk)
    },
  }))
  const stand = new Request(request.url, { method: request.method, headers: request.headers, body: counted, duplex: 'half' } as RequestInit)
  for (const name of BODY_READERS) {
    Object.defineProperty(request, name, { value: stand[name].bind(stand), configurable: true })
  }
  Object.defineProperty(request, 'body', { get: () => stand.body, configurable: true })
  Object.defineProperty(request, 'bodyUsed', { get: () => stand.bodyUsed, configurable: true })
}

/**
 * Elysia plugin enforcing `maxBytes` on request bodies: bodies without a declared length are
 * counted as they are read; a declared length over the limit is refused here too, for an app
 * without {@link declaredBodyLimit} in front. Mount it before recovery (its error hook must see
 * Elysia's parse errors first).
 *
 * @example
 * ```ts
 * new Elysia().use(bodyLimit(1024 * 1024)).use(recovery(log))
 * ```
 */
export function bodyLimit(maxBytes: number) {
  return new Elysia({ name: 'highperf/body-limit', seed: maxBytes })
    .onRequest(syncHook(({ request }: { request: Request }) => {
      const method = request.method
      if (method === 'GET' || method === 'HEAD') return undefined
      const declared = request.headers.get('content-length')
      if (declared === null) {
        limitBody(request, maxBytes)
        return undefined
      }
      // Bun refuses a malformed Content-Length with 400 before the app runs, so this is a number.
      if (Number(declared) > maxBytes) return tooLarge(maxBytes, request)
      return undefined
    }))
    .onError({ as: 'global' }, ({ code, error, request }) => {
      // Elysia wraps whatever a body parser throws in a ParseError (a 400); keep our 413.
      if (code !== 'PARSE') return
      const cause = (error as Error).cause
      if (!(cause instanceof AppError) || cause.code !== 'payload_too_large') return
      return tooLarge(maxBytes, request)
    })
}
