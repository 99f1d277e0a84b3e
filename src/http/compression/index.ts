/**
 * Compression stage: JSON answers, `/metrics` and `/swagger/json` compressed per the client's
 * `Accept-Encoding` (./negotiate.ts) with Bun's built-in codecs: zstd (`Bun.zstdCompressSync`),
 * brotli (`node:zlib`, native in Bun, loaded on first use) and gzip (`Bun.gzipSync`). No package: Bun ships all three,
 * synchronous and native, and the answers compressed here are small and already in memory.
 *
 * Levels (bench/compression, table in bench/README.md#compression): zstd 3, brotli 4, gzip 6.
 * zstd 3 costs the same as zstd 1 per KB and beats every gzip level; brotli 4 is the knee of
 * brotli's curve (quality 6 costs 1.5–2.2× for a body 1–2 points smaller, 11 costs ~250×); gzip 6 is zlib's
 * default and still under 7 µs/KB. The server prefers zstd, then br, then gzip on equal q-values:
 * cheapest CPU first at comparable ratios.
 *
 * What is compressed: a GET/POST/… answer (never HEAD) with a body, of a JSON or Prometheus text
 * type, at least {@link MIN_SIZE} bytes (smaller bodies fit one packet anyway), at most
 * {@link MAX_SIZE} (a synchronous codec must not hold the event loop). Never: `text/event-stream`
 * (SSE must flush per event), `/files` (user files, byte ranges, bodies on disk), 206 / 204 / 304
 * and 1xx, a body that already has a `Content-Encoding`, `Cache-Control: no-transform`.
 * Every answer of a compressible type gets `Vary: Accept-Encoding`, compressed or not, so a
 * cache never hands a compressed body to a client that did not ask for one. A strong `ETag` is
 * made weak on a compressed answer (RFC 9110 §8.8.1: the bytes differ from the identity body).
 *
 * Only bodies that can be read synchronously are compressed: the front's `after` is synchronous,
 * and a JSON answer built from a string is readable at once (`Bun.peek` on `bytes()`). A body
 * still pending (a stream that has not produced it yet) is passed on uncompressed.
 *
 * `COMPRESSION=off` leaves the stage out of the stack.
 *
 * @example
 * ```ts
 * createFront(app, [...stages, compression()], options) // last: its after runs first
 * ```
 */
import type * as Zlib from 'node:zlib'
import type { Stage } from '../front/index.ts'
import { negotiate, type Coding } from './negotiate.ts'

/** The codings offered, in the server's order of preference (see the module comment). */
export const CODINGS: readonly Coding[] = ['zstd', 'br', 'gzip']

/** Bodies smaller than this are sent as they are (unless the client refused `identity`). */
export const MIN_SIZE = 1024

/** Bodies larger than this are sent as they are: 8 MiB at brotli 4's ~8 µs/KB is ~65 ms of loop. */
export const MAX_SIZE = 8 << 20

/** The levels chosen from bench/compression (bench/README.md#compression). */
export const LEVELS = { zstd: 3, br: 4, gzip: 6 } as const

// node:zlib is loaded on the first brotli answer, not at start: importing it costs the compiled
// binary ~9 ms of start-up (docs/operations.md#startup-time-and-memory). zstd and gzip are Bun's.
let zlib: typeof Zlib | undefined
const brotli = (body: Uint8Array<ArrayBuffer>): Uint8Array => {
  zlib ??= require('node:zlib') as typeof Zlib
  const { constants } = zlib
  return zlib.brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: LEVELS.br, [constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength } })
}

/**
 * `body` encoded with `coding` at the level of {@link LEVELS}.
 *
 * @example encode('gzip', new TextEncoder().encode('{"a":1}')) // gzip bytes
 */
export function encode(coding: Coding, body: Uint8Array<ArrayBuffer>): Uint8Array {
  switch (coding) {
    case 'zstd': return Bun.zstdCompressSync(body, { level: LEVELS.zstd })
    case 'br': return brotli(body)
    case 'gzip': return Bun.gzipSync(body, { level: LEVELS.gzip })
  }
}

/**
 * True for the content types this stage compresses: JSON (`application/json`, `…+json`) and
 * Prometheus text (`text/plain`, OpenMetrics). Never `text/event-stream`.
 *
 * @example compressibleType('application/json; charset=utf-8') // true
 */
export function compressibleType(contentType: string | null): boolean {
  if (contentType === null) return false
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json')) || type === 'text/plain' || type === 'application/openmetrics-text'
}

// Statuses whose answer has no body to compress, or is a part of one (206).
const SKIP_STATUS = new Set([204, 205, 206, 304])

const addVary = (headers: Headers): void => {
  const vary = headers.get('vary')
  if (vary === null) headers.set('vary', 'Accept-Encoding')
  else if (!/(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(vary)) headers.set('vary', `${vary}, Accept-Encoding`)
}

/**
 * Stage: compresses the answer per `Accept-Encoding` (see the module comment). Put it last in
 * the stack so its `after` runs first and the other stages see (and add headers to) the answer
 * actually sent.
 *
 * @example compression().name // 'compression'
 */
export function compression(): Stage {
  return {
    name: 'compression',
    after(state, response) {
      const status = response.status
      if (status < 200 || SKIP_STATUS.has(status)) return
      const headers = response.headers
      if (!compressibleType(headers.get('content-type'))) return
      if (state.path === '/files' || state.path.startsWith('/files/')) return
      addVary(headers)
      if (state.method === 'HEAD') return
      // The client's Accept-Encoding before the answer's body and headers: without one (most API
      // clients: curl, wrk, many SDKs) nothing below can apply, and each check below is a call
      // into the native Response (reading `body` builds a ReadableStream for it). Same answers, fewer
      // calls: CPU per GET /users/:id ×0.91, 78.7 → 69.2 µs on a loaded machine
      // (`BASE=<the commit before> ENDPOINTS=user STACKS=full BENCH_ROUNDS=12 bun bench/http/ab.ts`,
      // 2026-12-03 16:53Z, load average ~7.8).
      const accept = state.request.headers.get('accept-encoding')
      if (accept === null) return
      if (response.body === null || response.bodyUsed) return
      if (headers.has('content-encoding') || headers.has('content-range')) return
      if (/(^|,)\s*no-transform\s*(,|$)/i.test(headers.get('cache-control') ?? '')) return
      const { coding, identityAllowed } = negotiate(accept, CODINGS)
      if (coding === null) return
      const declared = Number(headers.get('content-length') ?? Number.NaN)
      if (declared > MAX_SIZE || (identityAllowed && declared < MIN_SIZE)) return
      const read = Bun.peek(response.bytes())
      if (read instanceof Promise) {
        // Not readable yet: the body has been taken from `response`, so hand it on unencoded.
        return new Response(new ReadableStream({ async start(c) { c.enqueue(await read); c.close() } }), response)
      }
      const bytes = read as Uint8Array<ArrayBuffer>
      if (bytes.byteLength > MAX_SIZE || (identityAllowed && bytes.byteLength < MIN_SIZE)) return new Response(bytes, response)
      const encoded = encode(coding, bytes)
      const out = new Response(encoded, response)
      out.headers.set('content-encoding', coding)
      // The encoded length, set here so the stages after this one (the access log's bytesOut) see it.
      out.headers.set('content-length', String(encoded.byteLength))
      const etag = out.headers.get('etag')
      if (etag !== null && !etag.startsWith('W/')) out.headers.set('etag', `W/${etag}`)
      return out
    },
  }
}
