/**
 * Bearer tokens, compared in constant time: both the expected token and the presented one are
 * hashed with SHA-256 and the 32-byte digests compared with `crypto.timingSafeEqual`, so neither
 * the token's length nor the position of the first wrong byte shows in the response time (and
 * `timingSafeEqual` never throws on a length mismatch). The token is never logged or echoed.
 *
 * Split in two so a request hashes its `Authorization` header once whatever asks: the rate limiter
 * (which keys authenticated clients by the token's identity) and auth both go through the
 * request's memo, `RequestState.authenticated(verifier)` (src/http/request-state.ts), which holds
 * the presented token's {@link bearerDigest} and asks each verifier to compare it.
 *
 * @example
 * ```ts
 * const v = new TokenVerifier('s3cret')
 * v.verifyHeader('Bearer s3cret')                     // true
 * const presented = bearerDigest('bearer s3cret')  // the scheme is case-insensitive
 * presented !== null && v.verifyDigest(presented)     // true
 * ```
 */
import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * The SHA-256 digest of the token an `Authorization` header presents, or null when it presents
 * no bearer token (no header, another scheme, nothing after the scheme). The scheme is
 * case-insensitive (RFC 7235).
 *
 * @example bearerDigest('Basic dTpw') // null
 */
export function bearerDigest(header: string | null): Buffer | null {
  // "Bearer " is 7 characters; a header of 7 or fewer carries no token.
  if (header === null || header.length < 8) return null
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return null
  return digest(header.slice(7).trim())
}

/**
 * Checks presented bearer tokens against one expected token in constant time.
 *
 * @example
 * ```ts
 * const v = new TokenVerifier('s3cret')
 * v.verify('s3cret')              // true
 * v.verifyHeader('Bearer s3cret') // true
 * ```
 */
export class TokenVerifier {
  readonly #expected: Buffer

  constructor(token: string) {
    if (token === '') throw new RangeError('TokenVerifier needs a non-empty token')
    this.#expected = digest(token)
  }

  /** True when `token` is the expected one; time does not depend on where they differ. */
  verify(token: string): boolean {
    return this.verifyDigest(digest(token))
  }

  /** True when an `Authorization` header value carries the expected bearer token. */
  verifyHeader(header: string | null): boolean {
    const presented = bearerDigest(header)
    return presented !== null && this.verifyDigest(presented)
  }

  /** True when `presented` (a {@link bearerDigest}) is the expected token's digest. */
  verifyDigest(presented: Buffer): boolean {
    return presented.length === this.#expected.length && timingSafeEqual(presented, this.#expected)
  }
}
