/**
 * bench/storage/users.ts: `GET /users/:id` and `POST /users` through a real server process with
 * users on bun:sqlite (the default) and on PostgreSQL (`DATABASE_URL`, the local server, a
 * throwaway database), wrk with `CONNECTIONS` connections for `SECONDS_` each, rate limit off.
 * The reads pick a random id among 1 000 users created first; the writes make unique emails.
 *
 * @example
 * ```sh
 * bun bench/storage/users.ts                         # needs PostgreSQL on 127.0.0.1:5432 (database test)
 * SECONDS_=3 CONNECTIONS=32 bun bench/storage/users.ts
 * ```
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, spawnHighperf, waitHealthy } from '../../test/support/process.ts'
import { tempDatabase } from '../../test/support/postgres.ts'
import { wrk } from '../lib/wrk.ts'
import { writeResult } from '../lib/report.ts'

const SECONDS = Number(process.env.SECONDS_ ?? 5)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16)
const USERS = 1000

const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-users-'))
const getLua = join(dir, 'get.lua')
const postLua = join(dir, 'post.lua')
writeFileSync(getLua, `request = function() return wrk.format("GET", "/users/" .. math.random(1, ${USERS})) end\n`)
writeFileSync(postLua, [
  'local n = 0',
  'local run = tostring(os.time()) .. tostring(math.random(1, 1e9))',
  'request = function()',
  '  n = n + 1',
  '  local body = \'{"name":"bench","email":"b\' .. run .. "-" .. n .. \'@example.com"}\'',
  '  return wrk.format("POST", "/users", { ["Content-Type"] = "application/json" }, body)',
  'end',
].join('\n'))

const rows = ['| users on | GET /users/:id req/s | p50 | p99 | POST /users req/s | p50 | p99 |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
const ms = (x: number) => `${x.toFixed(2)} ms`
const pg = await tempDatabase()
try {
  for (const [name, env] of [['bun:sqlite (default)', {}], ['PostgreSQL (`DATABASE_URL`)', { DATABASE_URL: pg.url }]] as const) {
    const port = freePort()
    const server = spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
      PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, name.replace(/\W+/g, '-')), RATE_LIMIT_RPS: '0', LOG_LEVEL: 'warn', ACCESS_LOG: 'off', WORKERS: '1', ...env,
    })
    try {
      const base = `http://127.0.0.1:${port}`
      await waitHealthy(`${base}/healthz`, server.proc)
      for (let i = 0; i < USERS; i++) {
        const res = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `u${i}`, email: `seed${i}@example.com` }) })
        if (res.status !== 201) throw new Error(`seeding ${name}: ${res.status} ${await res.text()}`)
      }
      const get = await wrk(`${base}/`, { seconds: SECONDS, connections: CONNECTIONS, script: getLua, latency: true })
      const post = await wrk(`${base}/`, { seconds: SECONDS, connections: CONNECTIONS, script: postLua, latency: true })
      if (get.non2xx + post.non2xx > 0) console.error(`${name}: ${get.non2xx} GET and ${post.non2xx} POST answers were not 2xx`)
      rows.push(`| ${name} | ${Math.round(get.rps).toLocaleString('en-US')} | ${ms(get.p50)} | ${ms(get.p99)} | ${Math.round(post.rps).toLocaleString('en-US')} | ${ms(post.p50)} | ${ms(post.p99)} |`)
    } finally {
      server.proc.kill('SIGTERM')
      await server.proc.exited
    }
  }
} finally {
  await pg.drop()
  rmSync(dir, { recursive: true, force: true })
}
const md = `## bench/storage/users.ts: users on bun:sqlite vs PostgreSQL (bun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z)\n\nwrk, ${CONNECTIONS} connections, ${SECONDS} s each, one server process (WORKERS=1), rate limit off.\n\n${rows.join('\n')}\n`
writeResult('storage-users', md)
