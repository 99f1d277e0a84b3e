/**
 * `Accept-Encoding` negotiation (RFC 9110 §12.5.3): which of the codings highperf offers the
 * client accepts best, by q-value, with the server's order (./index.ts's {@link CODINGS}) as the
 * tie-break.
 *
 * Rules kept: codings are case-insensitive; `x-gzip` is `gzip`; `q=0` refuses a coding; `*`
 * stands for every coding not named; a malformed q-value makes its entry count as absent (never
 * as an acceptance); `identity;q=0` (or `*;q=0` without `identity`) forbids the unencoded answer,
 * which the stage honours by compressing even a body below its threshold.
 *
 * @example
 * ```ts
 * negotiate('gzip;q=0.5, br', ['zstd', 'br', 'gzip'])  // { coding: 'br', identityAllowed: true }
 * negotiate('*;q=0, identity', ['zstd', 'br', 'gzip']) // { coding: null, identityAllowed: true }
 * ```
 */

/** A content coding the server can produce. */
export type Coding = 'zstd' | 'br' | 'gzip'

/** What {@link negotiate} decided. */
export interface Negotiated {
  /** The coding to use, or null: answer unencoded. */
  coding: Coding | null
  /** False when the client refused `identity` (then even a small body is compressed if it can be). */
  identityAllowed: boolean
}

// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/

/**
 * The best coding of `offered` (in the server's order of preference) for an `Accept-Encoding`
 * value; null header: no coding (a client that says nothing gets the plain body).
 *
 * @example negotiate('zstd;q=0.1, gzip', ['zstd', 'br', 'gzip']).coding // 'gzip'
 */
export function negotiate(header: string | null, offered: readonly Coding[]): Negotiated {
  if (header === null) return { coding: null, identityAllowed: true }
  const q = new Map<string, number>()
  for (const part of header.split(',')) {
    const [rawName, ...params] = part.split(';')
    let name = (rawName ?? '').trim().toLowerCase()
    if (name === '') continue
    if (name === 'x-gzip') name = 'gzip'
    let weight = 1
    let valid = true
    for (const param of params) {
      const eq = param.indexOf('=')
      if (eq === -1) continue
      if (param.slice(0, eq).trim().toLowerCase() !== 'q') continue
      const value = param.slice(eq + 1).trim()
      if (!QVALUE.test(value)) valid = false
      else weight = Number(value)
    }
    // A repeated coding keeps its first valid entry: a later one cannot widen what was refused.
    if (valid && !q.has(name)) q.set(name, weight)
  }
  const star = q.get('*')
  const weightOf = (c: string): number => q.get(c) ?? star ?? 0
  let best: Coding | null = null
  let bestQ = 0
  for (const c of offered) {
    const w = weightOf(c)
    if (w > bestQ) {
      best = c
      bestQ = w
    }
  }
  const identity = q.get('identity') ?? (star === 0 ? 0 : 1)
  // An explicit `identity` preferred over every coding offered wins: the plain body.
  if (q.has('identity') && identity > bestQ) best = null
  return { coding: best, identityAllowed: identity > 0 }
}
