/**
 * bench/jobs: persistent jobs through HTTP. Three figures, each against a baseline from the same
 * run (synchronous `POST /tasks/echo`, the same trivial task without a job):
 *
 * 1. accepted/s: wrk (1 thread, CONNECTIONS connections) POSTs `{"task":"echo",...}` to /jobs for
 *    ROUND_S seconds; every 202 is a row committed to SQLite (WAL, synchronous=NORMAL). The runner
 *    runs the jobs at the same time (it is not paused), as in production.
 * 2. completed/s end to end: the jobs of (1), from the first one created to the last one finished
 *    (read from jobs.sqlite after the queue drained): the sustained rate of submit + claim + run on
 *    the pool + result commit.
 * 3. submit-to-done latency at low load: LATENCY_N jobs one at a time; the client POSTs, then
 *    follows `GET /jobs/:id/events` until the stream ends (client-observed, includes the SSE round
 *    trip), and the server-side finishedAt - createdAt (ms resolution) from the database.
 *
 * highperf runs from source as a separate process (WORKERS=2, rate limit and access log off),
 * once with the default JOB_CONCURRENCY (2 x workers) and once with 32 in the pool at once.
 * The machine has 2 cores shared by wrk, the server's main thread and 2 workers: figures are noisy.
 *
 * @example
 * ```sh
 * bun bench/jobs/index.ts                    # ~2 min, writes bench/results/jobs.md
 * ROUNDS=1 ROUND_S=3 bun bench/jobs/index.ts # quick look
 * ```
 */
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeResult } from '../lib/report.ts'
import { startServer, stop } from '../lib/server.ts'
import { lowerMedian, percentile } from '../lib/stats.ts'
import { luaPost, wrk } from '../lib/wrk.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const ROUND_S = Number(process.env.ROUND_S ?? 5)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64)
const LATENCY_N = Number(process.env.LATENCY_N ?? 300)
/** Server configurations compared in one run: the default, and more jobs in the pool at once. */
const CONFIGS: Array<{ label: string; env: Record<string, string> }> = [
  { label: 'JOB_CONCURRENCY=0 (default: 2 x workers = 4)', env: {} },
  { label: 'JOB_CONCURRENCY=32', env: { JOB_CONCURRENCY: '32' } },
]

const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')

/** One wrk run of CONNECTIONS connections; the Lua script's complaints go to stderr. */
const load = (url: string, script: string, seconds: number) =>
  wrk(url, { seconds, connections: CONNECTIONS, script, stderr: 'inherit' })

/** Waits until no job is queued or running; returns the time it happened (ms since epoch). */
async function waitDrained(db: Database, timeoutMs = 120_000): Promise<number> {
  const q = db.query<{ n: number }, []>("SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running')")
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if ((q.get()?.n ?? 0) === 0) return Date.now()
    await Bun.sleep(50)
  }
  throw new Error('jobs did not drain within the timeout')
}

interface Figures {
  healthz: number
  baseline: number
  accepted: number
  completed: number
  drained: number
  rejected: number
  client: number[]
  server: number[]
}

async function measure(env: Record<string, string>, dir: string, jobsLua: string, echoLua: string): Promise<Figures> {
  const dataDir = join(dir, `data-${Math.random().toString(36).slice(2)}`)
  const server = await startServer({
    cmd: [process.execPath, 'src/main.ts'],
    env: {
      WORKERS: '2', RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'warn', DATA_DIR: dataDir, JOB_QUEUE_LIMIT: '10000000',
      // Under 64 connections on a loaded 2-core box a request can queue past the 100 ms default deadline;
      // those 504s would open the circuit breaker of /jobs and turn the run into 503s.
      REQUEST_TIMEOUT: '10s', ...env,
    },
  })
  const url = server.url
  try {
    // Warm-up: JIT of both paths, and the database file exists for the reader below.
    await load(`${url}/tasks/echo`, echoLua, 1)
    await load(`${url}/jobs`, jobsLua, 1)
    const dbPath = join(dataDir, 'jobs.sqlite')
    let db = new Database(dbPath, { readonly: true })
    await waitDrained(db)

    const healthz: number[] = []
    const baseline: number[] = []
    const accepted: number[] = []
    const completed: number[] = []
    const drained: number[] = []
    let rejected = 0
    for (let r = 0; r < ROUNDS; r++) {
      healthz.push((await load(`${url}/healthz`, '', ROUND_S)).rps)
      const b = await load(`${url}/tasks/echo`, echoLua, ROUND_S)
      baseline.push(b.rps)
      const start = Date.now()
      const a = await load(`${url}/jobs`, jobsLua, ROUND_S)
      const stopped = Date.now()
      accepted.push(a.rps)
      rejected += a.non2xx
      await waitDrained(db)
      const span = db.query<{ n: number; first: number; last: number }, [number]>(
        "SELECT count(*) AS n, min(created_at) AS first, max(finished_at) AS last FROM jobs WHERE state = 'succeeded' AND created_at >= ?1",
      ).get(start)
      const rate = span && span.n > 0 ? span.n / ((span.last - span.first) / 1000) : NaN
      completed.push(rate)
      // The backlog left when submissions stopped, worked off by an otherwise idle server.
      const tail = db.query<{ n: number; last: number }, [number]>(
        "SELECT count(*) AS n, max(finished_at) AS last FROM jobs WHERE state = 'succeeded' AND finished_at > ?1",
      ).get(stopped)
      if (tail && tail.n > 100) drained.push(tail.n / ((tail.last - stopped) / 1000))
      console.error(`round ${r + 1}: /healthz ${f(healthz[healthz.length - 1]!, 0)} req/s; /tasks/echo ${f(b.rps, 0)} req/s; POST /jobs ${f(a.rps, 0)}/s accepted (${a.non2xx} non-2xx); ${span?.n} jobs completed at ${f(rate, 0)}/s end to end`)
    }

    // Latency at low load: one job at a time.
    const client: number[] = []
    const ids: string[] = []
    for (let i = 0; i < LATENCY_N; i++) {
      const t0 = performance.now()
      const res = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"task":"echo","input":{"i":${i}}}` })
      if (res.status !== 202) throw new Error(`POST /jobs answered ${res.status}: ${await res.text()}`)
      const job = (await res.json()) as { id: string }
      const ev = await fetch(`${url}/jobs/${job.id}/events`)
      if (ev.status !== 200) throw new Error(`GET /jobs/:id/events answered ${ev.status}: ${await ev.text()}`)
      await ev.text() // the stream ends after the final state
      client.push(performance.now() - t0)
      ids.push(job.id)
    }
    client.sort((a, b) => a - b)
    // A fresh connection: it certainly reads the latest WAL snapshot.
    db.close()
    db = new Database(dbPath, { readonly: true })
    const q = db.query<{ d: number }, [string]>('SELECT finished_at - created_at AS d FROM jobs WHERE id = ?1')
    const server = ids.map((id) => q.get(id)?.d ?? NaN).sort((a, b) => a - b)
    db.close()
    return { healthz: lowerMedian(healthz), baseline: lowerMedian(baseline), accepted: lowerMedian(accepted), completed: lowerMedian(completed), drained: lowerMedian(drained), rejected, client, server }
  } finally {
    await stop(server.proc)
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-jobs-'))
  const jobsLua = join(dir, 'jobs.lua')
  const echoLua = join(dir, 'echo.lua')
  writeFileSync(jobsLua, luaPost('{"task":"echo","input":{"value":1}}', { reportBad: true }))
  writeFileSync(echoLua, luaPost('{"value":1}', { reportBad: true }))
  try {
    const results: Figures[] = []
    for (const c of CONFIGS) {
      console.error(`-- ${c.label}`)
      results.push(await measure(c.env, dir, jobsLua, echoLua))
    }
    const cols = (fn: (x: Figures) => string) => results.map(fn).join(' | ')
    const rows = [
      `| measure | target | ${CONFIGS.map((c) => c.label).join(' | ')} |`,
      `| --- | ---: | ${CONFIGS.map(() => '---:').join(' | ')} |`,
      `| GET /healthz req/s (ceiling of the HTTP stack here) | – | ${cols((x) => f(x.healthz, 0))} |`,
      `| POST /tasks/echo req/s, synchronous (baseline) | – | ${cols((x) => f(x.baseline, 0))} |`,
      `| POST /jobs accepted/s (202, committed to SQLite) | ≥ 10 000 | ${cols((x) => `${f(x.accepted, 0)} (${f(x.accepted / x.baseline, 2)}×)`)} |`,
      `| jobs completed/s end to end, echo | ≥ 5 000 | ${cols((x) => `${f(x.completed, 0)} (${f(x.completed / x.baseline, 2)}×)`)} |`,
      `| backlog worked off/s after submits stopped | – | ${cols((x) => f(x.drained, 0))} |`,
      `| submit-to-done p50 ms, client (POST + SSE to the end) | ≤ 5 | ${cols((x) => f(percentile(x.client, 50), 2))} |`,
      `| submit-to-done p99 ms, client | – | ${cols((x) => f(percentile(x.client, 99), 2))} |`,
      `| submit-to-done p50 ms, server (finishedAt − createdAt) | ≤ 5 | ${cols((x) => f(percentile(x.server, 50), 0))} |`,
      `| submit-to-done p99 ms, server | – | ${cols((x) => f(percentile(x.server, 99), 0))} |`,
      `| non-2xx answers to POST /jobs (all rounds) | 0 | ${cols((x) => String(x.rejected))} |`,
    ]
    const table = rows.join('\n')
    const md = [
      '# bench/jobs: persistent jobs through HTTP',
      '',
      `Command: \`bun bench/jobs/index.ts\` (ROUNDS=${ROUNDS}, ROUND_S=${ROUND_S}, CONNECTIONS=${CONNECTIONS}, LATENCY_N=${LATENCY_N}). ` +
        `Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${new Date().toISOString()}.`,
      '',
      `Load: wrk -t1 -c${CONNECTIONS} for ${ROUND_S} s per measure and round; medians of ${ROUNDS} rounds. highperf from source, WORKERS=2, REQUEST_TIMEOUT=10s,`,
      'jobs in DATA_DIR/jobs.sqlite (WAL, synchronous=NORMAL, group commit per event-loop turn), the runner working during the accept run.',
      'Ratios (×) are against POST /tasks/echo of the same server and run. Completed/s: the jobs of a round from the first created',
      `to the last finished. Latency: ${LATENCY_N} jobs one at a time. Server-side times have 1 ms resolution.`,
      '',
      table,
      '',
      "wrk, the server's main thread and 2 workers share 2 cores, and other work ran on the machine: figures are noisy.",
      'JOB_CONCURRENCY caps jobs in the pool at once: a higher cap lets trivial jobs keep up with submissions, but a',
      'synchronous request may then wait behind more long jobs already handed to a worker (docs/jobs.md).',
      '',
    ].join('\n')
    writeResult('jobs', md, table)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
