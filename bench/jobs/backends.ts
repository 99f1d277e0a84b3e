/**
 * bench/jobs/backends.ts: the job API on each backend, end to end over HTTP: bun:sqlite (one
 * node), BullMQ on Redis and BullMQ on PostgreSQL (one node, then two nodes sharing JOBS_URL).
 *
 * 1. accepted/s: wrk (1 thread, CONNECTIONS connections per node, split over the nodes) POSTs
 *    `{"task":"echo",...}` to /jobs for ROUND_S seconds; the nodes run the jobs meanwhile.
 * 2. completed/s end to end: those jobs, from the first created to the last finished (read through
 *    `GET /jobs?state=succeeded` once the queue drained).
 * 3. `GET /jobs/:id` p50: GET_N sequential reads of one finished job (client-observed, HTTP included).
 *
 * Each node: highperf from source, WORKERS=1, JOB_CONCURRENCY=32 (two nodes on 2 cores), rate limit and access log off.
 * Redis: 127.0.0.1:6379 db REDIS_DB (default 13, flushed before each run); PostgreSQL: database test, schema
 * bench_jobs (dropped before each run). Figures are noisy: wrk, Redis/PostgreSQL and the nodes share 2 cores.
 *
 * @example
 * ```sh
 * bun bench/jobs/backends.ts                  # writes bench/results/jobs-backends.md
 * ROUND_S=3 BACKENDS=redis bun bench/jobs/backends.ts
 * BACKENDS=redis NODES=1 REDIS_DB=9 bun bench/jobs/backends.ts   # one node, another Redis db
 * ```
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeResult } from '../lib/report.ts'
import { freePort, ROOT, waitHealthy } from '../lib/server.ts'
import { percentile } from '../lib/stats.ts'
import { luaPost, wrk } from '../lib/wrk.ts'

const ROUND_S = Number(process.env.ROUND_S ?? 5)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64)
const GET_N = Number(process.env.GET_N ?? 2000)
const REDIS_DB = process.env.REDIS_DB ?? '13'
const REDIS = `redis://127.0.0.1:6379/${REDIS_DB}`
const PG = 'postgres://postgres@127.0.0.1:5432/test'
const ONLY = (process.env.BACKENDS ?? 'sqlite,redis,postgres').split(',')
const NODES = (process.env.NODES ?? '1,2').split(',').map(Number)

interface Row { backend: string; nodes: number; accepted: number; completed: number; getP50: number; non2xx: number }

async function resetBackends(): Promise<void> {
  Bun.spawnSync(['redis-cli', '-n', REDIS_DB, 'flushdb'])
  const sql = new Bun.SQL(PG)
  await sql.unsafe('DROP SCHEMA IF EXISTS bullmq CASCADE')
  await sql.close()
}

async function startNodes(n: number, jobsUrl: string, dir: string) {
  const nodes: Array<{ base: string; proc: ReturnType<typeof Bun.spawn> }> = []
  for (let i = 0; i < n; i++) {
    const port = freePort()
    const proc = Bun.spawn([process.execPath, 'run', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, `n${i}`), JOBS_URL: jobsUrl, WORKERS: '1', RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'warn', JOB_QUEUE_LIMIT: '10000000', JOB_CONCURRENCY: '32' },
      stdout: 'ignore',
      stderr: 'inherit',
    })
    await waitHealthy(`http://127.0.0.1:${port}`, proc, { timeoutMs: 30_000 })
    nodes.push({ base: `http://127.0.0.1:${port}`, proc })
  }
  return nodes
}

interface View { id: string; createdAt: string; finishedAt?: string }

async function allSucceeded(base: string): Promise<View[]> {
  const out: View[] = []
  let cursor: string | undefined
  for (;;) {
    const res = await fetch(`${base}/jobs?state=succeeded&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
    const page = (await res.json()) as { jobs: View[]; nextCursor?: string }
    out.push(...page.jobs)
    if (!page.nextCursor) return out
    cursor = page.nextCursor
  }
}

async function drained(base: string): Promise<void> {
  let quiet = 0
  while (quiet < 3) {
    const s = (await (await fetch(`${base}/status/json`)).json()) as { jobs: { queued: number; running: number } }
    quiet = s.jobs.queued + s.jobs.running === 0 ? quiet + 1 : 0
    await Bun.sleep(500)
  }
}

async function measure(backend: string, jobsUrl: string, n: number): Promise<Row> {
  await resetBackends()
  const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-backends-'))
  const nodes = await startNodes(n, jobsUrl, dir)
  try {
    const script = join(dir, 'post.lua')
    writeFileSync(script, luaPost('{"task":"echo","input":{"value":1}}'))
    const per = Math.max(1, Math.floor(CONNECTIONS / n))
    const runs = await Promise.all(nodes.map((node) => wrk(`${node.base}/jobs`, { seconds: ROUND_S, connections: per, script })))
    const accepted = runs.reduce((s, r) => s + r.rps, 0)
    const non2xx = runs.reduce((s, r) => s + r.non2xx, 0)
    await drained(nodes[0]!.base)
    const jobs = await allSucceeded(nodes[0]!.base)
    const first = Math.min(...jobs.map((j) => Date.parse(j.createdAt)))
    const last = Math.max(...jobs.map((j) => Date.parse(j.finishedAt ?? j.createdAt)))
    const completed = jobs.length / ((last - first) / 1000)
    const id = jobs[0]!.id
    const times: number[] = []
    for (let i = 0; i < GET_N; i++) {
      const t = performance.now()
      await (await fetch(`${nodes[0]!.base}/jobs/${id}`)).arrayBuffer()
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    return { backend, nodes: n, accepted, completed, getP50: percentile(times, 50), non2xx }
  } finally {
    for (const node of nodes) node.proc.kill('SIGTERM')
    await Promise.all(nodes.map((node) => node.proc.exited))
    rmSync(dir, { recursive: true, force: true })
  }
}

const rows: Row[] = []
if (ONLY.includes('sqlite')) rows.push(await measure('bun:sqlite (embedded)', '', 1))
for (const [name, url] of [['BullMQ on Redis', REDIS], ['BullMQ on PostgreSQL', PG]] as const) {
  if (!ONLY.includes(name.includes('Redis') ? 'redis' : 'postgres')) continue
  for (const n of NODES) rows.push(await measure(name, url, n))
}
await resetBackends()

const md = [
  `Command: \`bun bench/jobs/backends.ts\` (ROUND_S=${ROUND_S}, CONNECTIONS=${CONNECTIONS} split over the nodes, GET_N=${GET_N}). Bun ${Bun.version}, 2 cores, ${new Date().toISOString()}.`,
  '',
  'Each node WORKERS=1, JOB_CONCURRENCY=32. echo jobs; accepted/s by wrk during ROUND_S, completed/s from the first created to the last finished.',
  '',
  '| backend | nodes | POST /jobs accepted/s | completed/s end to end | GET /jobs/:id p50 (ms, HTTP) | non-2xx |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.backend} | ${r.nodes} | ${Math.round(r.accepted)} | ${Math.round(r.completed)} | ${r.getP50.toFixed(3)} | ${r.non2xx} |`),
  '',
].join('\n')
writeResult('jobs-backends', md)
