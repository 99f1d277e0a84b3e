/**
 * Where a subcommand reaches the server running with the same settings: `PORT`, `HOST` (an
 * any-address becomes loopback: 0.0.0.0 -> 127.0.0.1, :: -> [::1]) and `https` when TLS is set.
 *
 * @example localServerUrl({ host: '0.0.0.0', port: 3000, tlsCertFile: '' }) // 'http://127.0.0.1:3000'
 */
import type { Config } from '../config.ts'

/** The server's base URL, without a trailing slash. */
export function localServerUrl(config: Pick<Config, 'host' | 'port' | 'tlsCertFile'>): string {
  let host = config.host
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1'
  else if (host === '::' || host === '[::]') host = '::1'
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`
  return `${config.tlsCertFile === '' ? 'http' : 'https'}://${host}:${config.port}`
}
