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

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

/** Parses a `traceparent` header strictly; undefined when absent or invalid. */
export function parseTraceparent(header: string | null | undefined): TraceParent | undefined {
  if (header === null || header === undefined || header.length < 55 || header.length > 512) return undefined
  const m = TRACEPARENT.exec(header)
  if (m === null) return undefined
  const version = m[1] as string
  const traceId = m[2] as string
  const parentId = m[3] as string
  if (version === 'ff' || traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined
  // Version 00 has exactly four fields; later versions may append more after a dash.
  if (version === '00' && m[5] !== undefined) return undefined
  return { traceId, parentId, flags: parseInt(m[4] as string, 16) }
}

/** Formats a version-00 `traceparent`. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${flags & 1 ? '01' : '00'}`
}

// Random bytes fetched 4 KiB at a time: one getrandom call per ~170 requests instead of one each,
// and each id is a single native hex conversion of a slice (no per-byte string building).
const pool = Buffer.allocUnsafe(4096)
let offset = pool.length

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (offset + bytes > pool.length) {
      randomFillSync(pool)
      offset = 0
    }
    const hex = pool.toString('hex', offset, offset + bytes)
    offset += bytes
    if (hex !== zero) return hex
  }
}

/** A new random 16-byte trace id (32 hex chars, never all zeros). */
export function newTraceId(): string {
  return randomHex(16, ZERO_TRACE)
}

/** A new random 8-byte span id (16 hex chars, never all zeros). */
export function newSpanId(): string {
  return randomHex(8, ZERO_SPAN)
}
