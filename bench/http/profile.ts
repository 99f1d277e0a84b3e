/**
 * Profiles highperf under wrk load, in-process, so `bun --cpu-prof` can write its profile at the
 * natural end of the process (a `process.exit()` would skip it). Settings come from the
 * environment like the real server (e.g. RATE_LIMIT_RPS=0 ACCESS_LOG=off for the bare stack);
 * FILES_DIR defaults to a temporary directory holding bench/peers' 4k.bin and 1m.bin.
 * The server is on CPU 0 only if you pin it with taskset; wrk is pinned to CPU 1.
 *
 * The path `POST /users` sends a new user per request (bench/peers' wrk script); any other path
 * is a GET (`/users/1` is created first).
 *
 * @example
 * ```sh
 * taskset -c 0 bun --cpu-prof --cpu-prof-dir=/tmp/prof bench/http/profile.ts /users/1 5
 * taskset -c 0 bun --cpu-prof --cpu-prof-dir=/tmp/prof bench/http/profile.ts 'POST /users' 5
 * taskset -c 0 bun --cpu-prof --cpu-prof-dir=/tmp/prof bench/http/profile.ts /files/4k.bin 5
 * ```
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { startServer } from '../../src/server.ts'
import { prepareFiles, userPostScript } from '../peers/setup.ts'

const [path = '/healthz', seconds = '5'] = Bun.argv.slice(2)
const tmp = mkdtempSync(join(tmpdir(), 'highperf-profile-'))
const files = prepareFiles(join(tmp, 'files'))
const r = loadConfig([], { LOG_LEVEL: 'warn', WORKERS: '1', FILES_DIR: files, DATA_DIR: join(tmp, 'data'), ...process.env, PORT: '0', HOST: '127.0.0.1' })
if (r.kind !== 'config') throw new Error('unexpected --help/--version')
const srv = await startServer(r.config)
await fetch(`${srv.url}users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Profile', email: `p${Date.now()}@example.com` }) })
const post = path === 'POST /users'
const url = `${srv.url}${post ? 'users' : path.slice(1)}`
const script = join(tmp, 'post.lua')
writeFileSync(script, userPostScript(String(Date.now())))
if (!post) {
  const check = await fetch(url)
  console.log(`profile: ${url} -> ${check.status}`)
}
const wrk = Bun.spawn(['taskset', '-c', '1', 'wrk', '-t1', '-c64', `-d${seconds}s`, ...(post ? ['-s', script] : []), url], { stdout: 'pipe' })
console.log(await new Response(wrk.stdout).text())
await srv.shutdown()
rmSync(tmp, { recursive: true, force: true })
