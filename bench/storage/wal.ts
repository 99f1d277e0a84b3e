/**
 * bench/storage/wal.ts: the size of users.sqlite-wal while a real server process takes
 * `POST /users` from 16 connections (rate limit off), sampled every second, then how long
 * SIGTERM takes to exit. Issue #11 item 5: before the fix the WAL grew ~13 KB per insert and was
 * never checkpointed (2.2 GB after 15 s; shutdown 1.3–9 s to fold it back).
 *
 * `SERVER_DIR` runs another checkout's src/main.ts (e.g. an export of the commit before the fix),
 * so both can be measured side by side on the same machine.
 *
 * @example
 * ```sh
 * bun bench/storage/wal.ts                                  # 15 s, this checkout
 * SECONDS_=5 SERVER_DIR=/tmp/base bun bench/storage/wal.ts  # 5 s, another checkout
 * ```
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, spawnHighperf, waitHealthy } from '../../test/support/process.ts'

const SECONDS = Number(process.env.SECONDS_ ?? 15)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16)
const serverDir = process.env.SERVER_DIR ?? join(import.meta.dir, '..', '..')

const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-wal-'))
const wal = join(dir, 'users.sqlite-wal')
const port = freePort()
const server = spawnHighperf([process.execPath, 'run', join(serverDir, 'src/main.ts')], {
  PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir, RATE_LIMIT_RPS: '0', LOG_LEVEL: 'warn', WORKERS: '1',
}, serverDir)
const mib = (b: number) => (b / 1024 / 1024).toFixed(1)
try {
  await waitHealthy(`http://127.0.0.1:${port}/healthz`, server.proc)
  let inserts = 0
  let errors = 0
  const end = performance.now() + SECONDS * 1000
  const body = (i: number) => JSON.stringify({ name: `user ${i}`, email: `u${i}-${Math.random().toString(36).slice(2)}@example.com` })
  const loops = Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      const res = await fetch(`http://127.0.0.1:${port}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(inserts) })
      await res.arrayBuffer()
      if (res.status === 201) inserts++
      else errors++
    }
  })
  console.log('| s | inserts | users.sqlite-wal (MiB) |\n| ---: | ---: | ---: |')
  const sampler = (async () => {
    for (let s = 1; s <= SECONDS; s++) {
      await Bun.sleep(1000)
      console.log(`| ${s} | ${inserts} | ${existsSync(wal) ? mib(statSync(wal).size) : '-'} |`)
    }
  })()
  await Promise.all([...loops, sampler])
  const before = existsSync(wal) ? statSync(wal).size : 0
  const t0 = performance.now()
  server.proc.kill('SIGTERM')
  const { code } = await server.output()
  console.log(`\n${inserts} inserts (${errors} non-201) from ${CONNECTIONS} connections in ${SECONDS} s; WAL at SIGTERM ${mib(before)} MiB; exit ${code} after ${(performance.now() - t0).toFixed(0)} ms`)
} finally {
  server.proc.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
