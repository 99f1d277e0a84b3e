/**
 * How upstream failures become highperf errors, in one place, and what is safe to say about them.
 *
 * - HTTP 429 and 5xx, and network errors, are {@link UpstreamFailure}s with `retryable = true`
 *   (the client retries them, honouring `Retry-After`); after the last attempt they surface as
 *   `upstream_error` (502) or `upstream_unreachable` (502).
 * - 401/403 are `upstream_unauthorized` (502) saying the key was refused, never quoting the key
 *   or the upstream's message (OpenAI's 401 message quotes part of the key).
 * - Other 4xx are `upstream_error` (502) with the upstream's own message, with the key scrubbed
 *   out, cut to 300 characters (e.g. "model 'x' not found" is worth passing on).
 * - An unusable answer (not JSON, empty `choices`, no content) is `upstream_bad_response` (502).
 * - Running out of time is `upstream_timeout` (504); a client that left stays `client_closed`.
 *
 * @example
 * ```ts
 * if (!res.ok) throw await failureOf(res, apiKey)
 * ```
 */
import { AppError } from '../errors.ts'

/** A failed upstream HTTP exchange, before it is turned into an {@link AppError}. */
export class UpstreamFailure extends Error {
  /** HTTP status, or 0 for a network error (no answer, or the answer was cut off). */
  readonly status: number
  /** For status 0: true when the connection broke after the upstream began answering. */
  readonly cutOff: boolean
  /** Whether another attempt may succeed (429, 5xx, network errors). */
  readonly retryable: boolean
  /** The delay the upstream asked for (Retry-After / retry-after-ms), in ms. */
  readonly retryAfterMs: number | undefined

  /**
   * @example
   * ```ts
   * new UpstreamFailure('HTTP 503', 503, true, 2000)
   * ```
   */
  constructor(message: string, status: number, retryable: boolean, retryAfterMs?: number, cause?: unknown, cutOff = false) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'UpstreamFailure'
    this.status = status
    this.cutOff = cutOff
    this.retryable = retryable
    this.retryAfterMs = retryAfterMs
  }
}

/**
 * Reads `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date) as milliseconds.
 *
 * @example
 * ```ts
 * retryAfterOf(new Headers({ 'retry-after': '2' })) // 2000
 * ```
 */
export function retryAfterOf(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms')
  if (ms !== null && /^\d+(?:\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms))
  const ra = headers.get('retry-after')
  if (ra === null) return undefined
  const t = ra.trim()
  if (/^\d+$/.test(t)) return Number(t) * 1000
  const at = Date.parse(t)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/**
 * Removes every occurrence of `secret` from `text` (when there is a secret to remove).
 *
 * @example
 * ```ts
 * scrub('bad key sk-123', 'sk-123') // 'bad key [redacted]'
 * ```
 */
export function scrub(text: string, secret: string): string {
  return secret === '' ? text : text.split(secret).join('[redacted]')
}

/** The upstream's `error.message` (OpenAI and Ollama shapes), or '' when there is none. */
function upstreamMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown }
    const e = parsed.error
    if (typeof e === 'string') return e
    if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message
    if (typeof parsed.message === 'string') return parsed.message
  } catch {
    // Not JSON: say nothing rather than echo an arbitrary page.
  }
  return ''
}

/**
 * Turns a non-2xx upstream response into the error to throw: an {@link UpstreamFailure} for
 * retryable statuses (429, 5xx), an {@link AppError} for the rest. Reads (and so releases) the body.
 *
 * @example
 * ```ts
 * if (!res.ok) throw await failureOf(res, config.llmApiKey)
 * ```
 */
export async function failureOf(res: Response, apiKey: string): Promise<UpstreamFailure | AppError> {
  const body = await res.text().catch(() => '')
  if (res.status === 429 || res.status >= 500) {
    return new UpstreamFailure(`The LLM upstream answered HTTP ${res.status}`, res.status, true, retryAfterOf(res.headers))
  }
  if (res.status === 401 || res.status === 403) {
    return new AppError('upstream_unauthorized', `The LLM upstream refused the API key (HTTP ${res.status}): check LLM_API_KEY`)
  }
  const said = scrub(upstreamMessage(body), apiKey).slice(0, 300)
  return new AppError('upstream_error', `The LLM upstream rejected the request (HTTP ${res.status})${said ? `: ${said}` : ''}`)
}

/**
 * The error a caller finally sees for an {@link UpstreamFailure} that outlived its retries.
 *
 * @example
 * ```ts
 * catch (err) { throw err instanceof UpstreamFailure ? finalError(err, attempts) : err }
 * ```
 */
export function finalError(err: UpstreamFailure, attempts: number): AppError {
  const tries = attempts === 1 ? '' : ` (after ${attempts} attempts)`
  const retryAfter = err.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(err.retryAfterMs / 1000))
  if (err.status === 0 && !err.cutOff) return new AppError('upstream_unreachable', `${err.message}${tries}`, { cause: err.cause })
  return new AppError('upstream_error', `${err.message}${tries}`, retryAfter === undefined ? {} : { retryAfter })
}

/**
 * Whether an error, as thrown inside one upstream call (before {@link finalError}), says the
 * upstream is unhealthy and so counts toward the circuit breaker: network failures, 429/5xx,
 * timeouts and unusable answers do; a refused key, a rejected request and a client that left do not.
 *
 * @example
 * ```ts
 * new CircuitBreaker({ failureThreshold: 20, openDurationMs: 2000, isFailure: isUpstreamFault })
 * ```
 */
export function isUpstreamFault(err: unknown): boolean {
  if (err instanceof UpstreamFailure) return true
  if (!(err instanceof AppError)) return true
  return err.code === 'upstream_timeout' || err.code === 'upstream_bad_response'
}
