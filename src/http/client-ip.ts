/**
 * The client's address, as the rate limiter (and the access log) key it.
 *
 * By default it is the TCP peer: `server.requestIP(request)`. `X-Forwarded-For` is read ONLY when
 * `TRUST_PROXY=true`, because any client can send that header: trusting it by default would let
 * every request pick its own rate-limit bucket.
 *
 * With `TRUST_PROXY=true` the address is the right-most hop of `X-Forwarded-For` that is not a
 * private, loopback or link-local address (our own proxies and load balancers append on the
 * right, so the right-most public hop is the one our edge saw connecting; anything left of it was
 * written by the client and is not believed). When every hop is private (an all-internal
 * deployment) the left-most hop is taken. Without the header, the TCP peer is used.
 *
 * @example
 * ```ts
 * clientAddress(request, server, false)             // '203.0.113.9' (the socket peer)
 * clientAddress(request, server, true)              // '198.51.100.7' from 'X-Forwarded-For: 1.2.3.4, 198.51.100.7, 10.0.0.2'
 * ```
 */
import { isIP } from 'node:net'

/** The part of Bun's `Server` this module needs (so tests and other adapters can supply it). */
export interface PeerSource {
  requestIP(request: Request): { address: string } | null
}

/** The address used when none is known (e.g. `app.handle()` in tests, no server attached). */
export const UNKNOWN_CLIENT = 'unknown'

/**
 * True for loopback, RFC 1918, CGNAT, link-local and unique-local addresses: hops that are our
 * own infrastructure rather than the client.
 *
 * @example isPrivateAddress('10.1.2.3') // true
 */
export function isPrivateAddress(address: string): boolean {
  let a = address
  if (a.startsWith('::ffff:')) a = a.slice(7)
  if (a.includes(':')) {
    const lower = a.toLowerCase()
    return lower === '::1' || lower.startsWith('fc') || lower.startsWith('fd') || lower.startsWith('fe80:')
  }
  const dot = a.indexOf('.')
  const first = Number(a.slice(0, dot))
  const second = Number(a.slice(dot + 1, a.indexOf('.', dot + 1)))
  if (first === 10 || first === 127) return true
  if (first === 172) return second >= 16 && second <= 31
  if (first === 192) return second === 168
  if (first === 169) return second === 254
  if (first === 100) return second >= 64 && second <= 127
  return false
}

/**
 * Picks the client from an `X-Forwarded-For` value: the right-most non-private hop, else the
 * left-most hop; hops that are not IP addresses are ignored. Returns undefined when none is left.
 *
 * @example forwardedClient('1.2.3.4, 198.51.100.7, 10.0.0.2') // '198.51.100.7'
 */
export function forwardedClient(header: string): string | undefined {
  const hops = header.split(',')
  let leftMost: string | undefined
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = (hops[i] as string).trim()
    // Not an address (empty, 'unknown', a forged 'api-token'): skipped, never a rate-limit key.
    if (isIP(hop) === 0) continue
    if (!isPrivateAddress(hop)) return hop
    leftMost = hop
  }
  return leftMost
}

/**
 * The client address of `request`: see the module comment. `server` may be null (in-process
 * `app.handle()`), then the address is {@link UNKNOWN_CLIENT} unless a trusted header names one.
 *
 * @example
 * ```ts
 * app.get('/whoami', ({ request, server }) => clientAddress(request, server, config.trustProxy))
 * ```
 */
export function clientAddress(request: Request, server: PeerSource | null | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = request.headers.get('x-forwarded-for')
    if (xff !== null) {
      const hop = forwardedClient(xff)
      if (hop !== undefined) return hop
    }
  }
  const address = server?.requestIP(request)?.address
  if (address === undefined) return UNKNOWN_CLIENT
  // A dual-stack socket reports IPv4 peers as '::ffff:1.2.3.4': one client, one spelling.
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/**
 * The rate-limit bucket of an address: IPv4 addresses as they are, IPv6 addresses by their /64
 * prefix. One IPv6 host usually owns a whole /64 (SLAAC privacy addresses rotate inside it), so
 * keying by full address would let one client mint unlimited fresh buckets and churn everyone
 * else out of the table. Anything that is not an IPv6 address is returned unchanged.
 *
 * @example
 * clientBucket('203.0.113.9')            // '203.0.113.9'
 * clientBucket('2001:db8:1:2:aaaa::7')   // '2001:db8:1:2::/64'
 */
export function clientBucket(address: string): string {
  if (!address.includes(':') || isIP(address) !== 6) return address
  const lower = address.toLowerCase()
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7)
  const cut = lower.indexOf('::')
  let groups: string[]
  if (cut === -1) groups = lower.split(':')
  else {
    const head = cut === 0 ? [] : lower.slice(0, cut).split(':')
    const tail = cut + 2 >= lower.length ? [] : lower.slice(cut + 2).split(':')
    // An embedded IPv4 tail ('::1.2.3.4') counts as two groups; only the first four matter here.
    const tailGroups = tail.length > 0 && (tail[tail.length - 1] as string).includes('.') ? tail.length + 1 : tail.length
    groups = [...head, ...Array<string>(Math.max(0, 8 - head.length - tailGroups)).fill('0'), ...tail]
  }
  const prefix = groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')
  return `${prefix}::/64`
}
