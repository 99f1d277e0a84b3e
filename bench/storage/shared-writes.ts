/**
 * bench/storage/shared-writes.ts: two real server processes sharing one DATA_DIR (shared SQLite
 * locking, as with `PROCESSES=2`) take `POST /users` from CONNECTIONS connections each for
 * SECONDS, while a separate process polls each one's `GET /healthz` every 20 ms. Issue #13 part 7:
 * a write that waits for the other process's lock waits inside SQLite's busy handler, on the
 * event loop, so /healthz shows how long the loop froze.
 *
 * Reports per run: writes answered 201 / 503 `storage_busy` / 500 / other, write latency
 * p50/p99/max, /healthz p50/p99/max and the size of users.sqlite-wal at the end. `SERVER_DIR`
 * runs another checkout's src/main.ts (e.g. `git archive` of the commit before a change) to
 * compare both on one machine; `SERVERS=1` puts the same load on one process.
 *
 * @example
 * ```sh
 * bun bench/storage/shared-writes.ts                                  # 10 s, this checkout
 * SECONDS_=5 SERVER_DIR=/tmp/base bun bench/storage/shared-writes.ts  # another checkout
 * ```
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { percentile } from '../lib/stats.ts'
import { freePort, spawnHighperf, waitHealthy } from '../../test/support/process.ts'

const SECONDS = Number(process.env.SECONDS_ ?? 10)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16)
// SERVERS=1: the same load (2 x CONNECTIONS) on one process, still with shared locking: the freeze without a second writer.
const SERVERS = Number(process.env.SERVERS ?? 2)
const serverDir = process.env.SERVER_DIR ?? join(import.meta.dir, '..', '..')
const [mode, ...args] = process.argv.slice(2)

interface LoadResult { status: Record<string, number>; codes: Record<string, number>; latencies: number[] }
interface PollResult { latencies: number[]; failures: number }

async function load(ports: number[], ms: number): Promise<LoadResult> {
  const status: Record<string, number> = {}
  const codes: Record<string, number> = {}
  const latencies: number[] = []
  const end = performance.now() + ms
  let n = 0
  await Promise.all(ports.flatMap((port) => Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      const i = n++
      const t = performance.now()
      const res = await fetch(`http://127.0.0.1:${port}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `u${i}`, email: `u${i}-${port}-${Math.random().toString(36).slice(2)}@example.com` }) })
      const text = await res.text()
      latencies.push(performance.now() - t)
      status[res.status] = (status[res.status] ?? 0) + 1
      if (res.status !== 201) {
        const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '?'
        codes[code] = (codes[code] ?? 0) + 1
      }
    }
  })))
  return { status, codes, latencies }
}

async function poll(port: number, ms: number): Promise<PollResult> {
  const latencies: number[] = []
  let failures = 0
  const end = performance.now() + ms
  while (performance.now() < end) {
    const t = performance.now()
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`)
      await res.arrayBuffer()
      if (res.status !== 200) failures++
    } catch { failures++ }
    latencies.push(performance.now() - t)
    await Bun.sleep(20)
  }
  return { latencies, failures }
}

if (mode === 'load') {
  console.log(JSON.stringify(await load(args.slice(1).map(Number), Number(args[0]))))
} else if (mode === 'poll') {
  const ms = Number(args[0])
  console.log(JSON.stringify(await Promise.all(args.slice(1).map((p) => poll(Number(p), ms)))))
} else {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-shared-'))
  const ports = Array.from({ length: SERVERS }, () => freePort())
  const servers = ports.map((port) => spawnHighperf([process.execPath, 'run', join(serverDir, 'src/main.ts')], {
    PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir, REUSE_PORT: 'true', RATE_LIMIT_RPS: '0', LOG_LEVEL: 'warn', ACCESS_LOG: 'off', WORKERS: '1', ...(process.env.HP_BUSY ? { HP_BUSY: process.env.HP_BUSY } : {}),
  }, serverDir))
  try {
    for (const [i, s] of servers.entries()) await waitHealthy(`http://127.0.0.1:${ports[i]}/healthz`, s.proc)
    const me = [process.execPath, import.meta.path]
    const run = async (argv: string[]) => JSON.parse(await new Response(Bun.spawn([...me, ...argv], { stdout: 'pipe', stderr: 'inherit' }).stdout).text())
    const [loaded, polled] = await Promise.all([
      run(['load', String(SECONDS * 1000), ...(SERVERS === 1 ? [ports[0], ports[0]] : ports).map(String)]) as Promise<LoadResult>,
      run(['poll', String(SECONDS * 1000), ...ports.map(String)]) as Promise<PollResult[]>,
    ])
    const ms = (x: number) => x.toFixed(1)
    const w = [...loaded.latencies].sort((a, b) => a - b)
    const h = polled.flatMap((p) => p.latencies).sort((a, b) => a - b)
    console.log(`server: ${serverDir}; ${SERVERS} process(es), 2 x ${CONNECTIONS} connections, ${SECONDS} s, one DATA_DIR (shared locking)`)
    console.log(`writes by status: ${JSON.stringify(loaded.status)}; error codes: ${JSON.stringify(loaded.codes)}`)
    const wal = join(dir, 'users.sqlite-wal')
    console.log(`users.sqlite-wal at the end: ${existsSync(wal) ? (statSync(wal).size / 1024 / 1024).toFixed(1) : '-'} MiB`)
    console.log(`| writes/s | write p50 ms | write p99 ms | write max ms | /healthz p50 ms | /healthz p99 ms | /healthz max ms | /healthz failures |`)
    console.log(`| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`)
    console.log(`| ${Math.round((loaded.status['201'] ?? 0) / SECONDS)} | ${ms(percentile(w, 50))} | ${ms(percentile(w, 99))} | ${ms(Math.max(...w))} | ${ms(percentile(h, 50))} | ${ms(percentile(h, 99))} | ${ms(Math.max(...h))} | ${polled.reduce((n, p) => n + p.failures, 0)} |`)
  } finally {
    for (const s of servers) s.proc.kill('SIGKILL')
    await Promise.all(servers.map((s) => s.proc.exited))
    rmSync(dir, { recursive: true, force: true })
  }
}
