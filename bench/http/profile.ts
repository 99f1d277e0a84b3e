/**
 * Profiles highperf under wrk load, in-process, so `bun --cpu-prof` can write its profile at the
 * natural end of the process (a `process.exit()` would skip it). Settings come from the
 * environment like the real server (e.g. RATE_LIMIT_RPS=0 ACCESS_LOG=off for the bare stack).
 * The server is on CPU 0 only if you pin it with taskset; wrk is pinned to CPU 1.
 *
 * @example
 * ```sh
 * taskset -c 0 bun --cpu-prof --cpu-prof-dir=/tmp/prof bench/http/profile.ts /users/1 5
 * ```
 */
import { loadConfig } from '../../src/config.ts'
import { startServer } from '../../src/server.ts'

const [path = '/healthz', seconds = '5'] = Bun.argv.slice(2)
const r = loadConfig([], { LOG_LEVEL: 'warn', WORKERS: '1', ...process.env, PORT: '0', HOST: '127.0.0.1' })
if (r.kind !== 'config') throw new Error('unexpected --help/--version')
const srv = await startServer(r.config)
if (path.startsWith('/users/')) {
  await fetch(`${srv.url}users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Profile', email: `p${Date.now()}@example.com` }) })
}
const url = `${srv.url}${path.slice(1)}`
const check = await fetch(url)
console.log(`profile: ${url} -> ${check.status}`)
const wrk = Bun.spawn(['taskset', '-c', '1', 'wrk', '-t1', '-c64', `-d${seconds}s`, url], { stdout: 'pipe' })
console.log(await new Response(wrk.stdout).text())
await srv.shutdown()
