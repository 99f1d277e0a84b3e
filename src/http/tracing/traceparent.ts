/**
 * W3C Trace Context `traceparent`: strict parsing, formatting and id generation.
 *
 * `traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`, lower-case hex only;
 * all-zero ids and version `ff` are invalid. A header that breaks any rule is ignored and the
 * request starts a new trace (the spec's instruction), never a 4xx. Versions above 00 are accepted
 * when their first four fields parse as version 00 defines them (forward compatibility).
 *
 * @example
 * ```ts
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
 * // { traceId: '4bf92f35…', parentId: '00f067aa0ba902b7', flags: 1 }
 * formatTraceparent('4bf92f3577b34da6a3ce929d0e0e4736', newSpanId(), 1)
 * ```
 */
import { randomFillSync } from 'node:crypto'

/** A valid incoming trace context. */
export interface TraceParent {
  traceId: string
  parentId: string
  /** Trace flags; bit 0 is "sampled". */
  flags: number
}

const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)
const DASH = 45

// A character loop rather than a regular expression with capture groups: no match array and no
// capture strings per request, only the two id slices the caller keeps.
function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false
  }
  return true
}

/** Parses a `traceparent` header strictly; undefined when absent or invalid. */
export function parseTraceparent(header: string | null | undefined): TraceParent | undefined {
  if (header === null || header === undefined) return undefined
  const n = header.length
  if (n < 55 || n > 512) return undefined
  if (header.charCodeAt(2) !== DASH || header.charCodeAt(35) !== DASH || header.charCodeAt(52) !== DASH) return undefined
  if (!isLowerHex(header, 0, 2) || !isLowerHex(header, 3, 35) || !isLowerHex(header, 36, 52) || !isLowerHex(header, 53, 55)) return undefined
  const version = header.slice(0, 2)
  if (version === 'ff') return undefined
  // Version 00 has exactly four fields; later versions may append more after a dash.
  if (n > 55 && (version === '00' || header.charCodeAt(55) !== DASH)) return undefined
  const traceId = header.slice(3, 35)
  const parentId = header.slice(36, 52)
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined
  return { traceId, parentId, flags: parseInt(header.slice(53, 55), 16) }
}

/** Formats a version-00 `traceparent`. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${flags & 1 ? '01' : '00'}`
}

// Random bytes fetched 4 KiB at a time and hex-encoded in ONE native call per refill; an id is then a
// slice of that string (JSC shares the backing store: no copy, no per-id native call). Per id this
// replaced a Buffer.toString('hex') call, ~7 % of the server's CPU under wrk on GET /healthz
// (bun --cpu-prof on bench/http/profile.ts; bench/tracing and bench/http show the gain).
const pool = Buffer.allocUnsafe(4096)
let hexPool = ''
let offset = hexPool.length

function randomHex(bytes: number, zero: string): string {
  const chars = bytes * 2
  for (;;) {
    if (offset + chars > hexPool.length) {
      randomFillSync(pool)
      hexPool = pool.toString('hex')
      offset = 0
    }
    const hex = hexPool.slice(offset, offset + chars)
    offset += chars
    if (hex !== zero) return hex
  }
}

/** A new random 8-byte span id (16 hex chars, never all zeros). */
export function newSpanId(): string {
  return randomHex(8, ZERO_SPAN)
}
