/**
 * Request id middleware: honours a sane incoming `X-Request-Id`, otherwise makes one, and echoes it
 * on the response so a client can quote it in a bug report.
 *
 * Generated ids are a per-process random prefix plus a counter in base 36 rather than a UUID per
 * request: a counter costs one increment and one short string, where `crypto.randomUUID()` costs
 * 16 random bytes and a 36-char string on every request (bench/http shows the hot path).
 *
 * The front (src/http/front) resolves the id of every request and sets the header on every answer,
 * errors and 404s included.
 *
 * @example
 * ```ts
 * resolveRequestId(request.headers.get(REQUEST_ID_HEADER)) // 'k3x9q2-1042', or the client's own id
 * ```
 */
import { stateOf } from '../request-state.ts'

/** The header carrying the request id, both ways. */
export const REQUEST_ID_HEADER = 'x-request-id'

// Letters, digits and a few separators, at most 128 chars: anything else could smuggle log
// injection or header splitting, so it is replaced rather than echoed.
const SAFE_ID = /^[A-Za-z0-9._:\-]{1,128}$/

const prefix = Math.random().toString(36).slice(2, 8)
let counter = 0

/** Makes a new request id: unique within the process, and across processes with high probability. */
export function newRequestId(): string {
  // A comparison, not `% Number.MAX_SAFE_INTEGER` (a floating-point fmod per request), and decimal,
  // not toString(36) (JSC's generic radix loop): together ~5 % of CPU in an in-process profile of
  // the stack (bun --cpu-prof on app.handle loops; bench/middleware's baseline row).
  counter = counter === Number.MAX_SAFE_INTEGER ? 1 : counter + 1
  return `${prefix}-${counter}`
}

/** Returns the incoming id if it is safe to echo, else a new one. */
export function resolveRequestId(incoming: string | null): string {
  return incoming !== null && SAFE_ID.test(incoming) ? incoming : newRequestId()
}

/**
 * The request id the front gave a request ('' for a Request it never saw), for error bodies.
 *
 * @example errorBody('not_found', 'no such user', requestIdOf(request))
 */
export function requestIdOf(request: Request): string {
  return stateOf(request)?.requestId ?? ''
}
