/**
 * Connections refused or reset while `PROCESSES=2` rolls (SIGHUP), with `net.ipv4.tcp_migrate_req`
 * as it is now: `clients` loops open a new connection per `GET /healthz` nonstop over `rolls`
 * rolls. The primary runs as uid 65534 (setpriv) so it cannot turn the sysctl on by itself. Not
 * part of `bun run bench` (no index.ts): it needs root to set the sysctl before each run.
 *
 * ```sh
 * sysctl -w net.ipv4.tcp_migrate_req=0 && bun bench/cluster/roll-resets.ts 5 32
 * sysctl -w net.ipv4.tcp_migrate_req=1 && bun bench/cluster/roll-resets.ts 5 32
 * ```
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { hammer, spawnCluster } from '../../test/cluster/support.ts'
import { freePort } from '../../test/support/process.ts'

const ROOT = resolve(import.meta.dir, '../..')
const rolls = Number(process.argv[2] ?? 5)
const clients = Number(process.argv[3] ?? 32)
const dir = mkdtempSync(join(tmpdir(), 'highperf-roll-'))
chmodSync(dir, 0o777)
const port = freePort()
const c = spawnCluster(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'run', join(ROOT, 'src/main.ts')],
  { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, 'data'), HOME: dir, PROCESSES: '2', WORKERS: '1', RATE_LIMIT_RPS: '0', LOG_FORMAT: 'json', ACCESS_LOG: 'off' }, dir)
try {
  await c.waitFor((l) => l.msg === 'all 2 server processes ready', 30_000)
  const sysctl = (await Bun.file('/proc/sys/net/ipv4/tcp_migrate_req').text()).trim()
  const load = hammer(port, clients)
  for (let i = 0; i < rolls; i++) {
    const from = c.lines.length
    c.proc.kill('SIGHUP')
    await c.waitFor((l) => String(l.msg).startsWith('roll done'), 30_000, from)
  }
  const r = await load.stop()
  console.log(`tcp_migrate_req=${sysctl}: ${rolls} rolls, ${clients} clients: ${r.ok} answered 200, ${r.failed.length} refused/reset`)
} finally {
  await c.stop()
  rmSync(dir, { recursive: true, force: true })
}
