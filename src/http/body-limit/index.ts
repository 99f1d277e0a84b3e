/**
 * Body limit middleware: a request body over `MAX_BODY_SIZE` gets a 413 with the JSON error
 * envelope, whether the client declared its length or streamed it chunked.
 *
 * Why not just Bun's `maxRequestBodySize`: Bun answers an oversize body itself with a bare
 * `413` and no body, before the app sees the request (declared length) or after the app already
 * started reading (chunked), so the client never gets the envelope or the request id. So
 * `server.ts` sets Bun's limit to {@link BUN_BODY_CEILING} and this plugin enforces the real one:
 * - `Content-Length` over the limit: answered at once, unread, with `Connection: close` (Bun then
 *   drops the connection instead of draining gigabytes).
 * - no `Content-Length` but a body (chunked): the body is read here, stopping at the limit; over
 *   it -> 413. Within it, the bytes are given back to the same `Request` object (its body
 *   getters and readers now read a buffered copy, see {@link restoreBody}), so every route and
 *   parser reads the body as usual, and everything keyed by the request keeps working
 *   (`server.requestIP(request)`, per-request WeakMaps). Swapping in a new `Request` would break
 *   both; reading a `clone()` instead stalls, as Bun's tee waits for the unread branch.
 *
 * GET and HEAD are let through after one comparison: that is all this costs the read hot path.
 *
 * @example
 * ```ts
 * app.use(recovery(log)).use(bodyLimit(config.maxBodySize))
 * ```
 */
import { Elysia } from 'elysia'
import { errorBody } from '../../errors.ts'
import { requestIdOf } from '../request-id/index.ts'

/**
 * The `maxRequestBodySize` given to `Bun.serve`: effectively unlimited, so every oversize request
 * reaches {@link bodyLimit} and gets the envelope. Memory stays bounded because the plugin never
 * reads past `MAX_BODY_SIZE` and Bun reads a declared body only when the app asks for it.
 */
export const BUN_BODY_CEILING = Number.MAX_SAFE_INTEGER

/**
 * Reads a stream to its end unless it passes `max` bytes: the bytes, or undefined (and the stream
 * cancelled) as soon as the count is over.
 *
 * @example
 * ```ts
 * await readLimited(request.body!, 1024) // Uint8Array of at most 1 KiB, or undefined
 * ```
 */
export async function readLimited(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array | undefined> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > max) {
      await reader.cancel().catch(() => {})
      return undefined
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

const BODY_READERS = ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text', 'clone'] as const

/**
 * Makes `request` read its body from `bytes`: its body readers and `body` / `bodyUsed` getters
 * are pointed at a stand-in `Request` holding the bytes, so they keep their usual one-shot
 * semantics. Only the instance changes; the object stays the same one the server handed over.
 *
 * @example
 * ```ts
 * restoreBody(request, bytes)
 * await request.json() // parses bytes
 * ```
 */
export function restoreBody(request: Request, bytes: Uint8Array): void {
  const stand = new Request(request.url, { method: request.method, headers: request.headers, body: bytes })
  for (const name of BODY_READERS) {
    Object.defineProperty(request, name, { value: stand[name].bind(stand), configurable: true })
  }
  Object.defineProperty(request, 'body', { get: () => stand.body, configurable: true })
  Object.defineProperty(request, 'bodyUsed', { get: () => stand.bodyUsed, configurable: true })
}

function tooLarge(max: number, set: { headers: Record<string, unknown> }): Response {
  const body = errorBody('payload_too_large', `The request body is larger than ${max} bytes`, requestIdOf(set))
  set.headers.connection = 'close'
  return new Response(JSON.stringify(body), { status: 413, headers: { 'content-type': 'application/json; charset=utf-8' } })
}

/**
 * Elysia plugin enforcing `maxBytes` on request bodies (mount right after recovery).
 *
 * @example
 * ```ts
 * new Elysia().use(bodyLimit(1024 * 1024))
 * ```
 */
export function bodyLimit(maxBytes: number) {
  return new Elysia({ name: 'highperf/body-limit', seed: maxBytes })
    .onRequest(async ({ request, set }) => {
      const method = request.method
      if (method === 'GET' || method === 'HEAD') return
      const declared = request.headers.get('content-length')
      if (declared !== null) {
        // Bun rejects a malformed Content-Length with 400 before the app runs, so this is a number.
        if (Number(declared) > maxBytes) return tooLarge(maxBytes, set)
        return
      }
      const stream = request.body
      if (stream === null) return
      const bytes = await readLimited(stream, maxBytes)
      if (bytes === undefined) return tooLarge(maxBytes, set)
      restoreBody(request, bytes)
    })
}
