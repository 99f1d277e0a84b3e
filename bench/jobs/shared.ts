/**
 * bench/jobs/shared.ts: one jobs.sqlite shared by 1, 2 and 4 processes, each running a JobRunner
 * (leases, group commit, `shared: true`) on a trivial in-process task, no HTTP. Each process
 * submits its share of the jobs in bursts while its runner works them off. Reported per process
 * count: jobs/s (all done), the group commit's transaction time (p50/p99/max: the time one
 * transaction held that process's event loop, the short in-SQLite busy wait included), the
 * event-loop lag (a 10 ms timer's lateness, p99/max) and the jobs run more than once (must be 0).
 *
 * @example
 * ```sh
 * bun bench/jobs/shared.ts   # ~30 s, writes bench/results/jobs-shared.md
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { JobRunner } from '../../src/jobs/runner.ts'
import { openSqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { silentLogger } from '../../src/log.ts'
import type { TaskRunner } from '../../src/pool/types.ts'
import { writeResult } from '../lib/report.ts'
import { percentile } from '../lib/stats.ts'

const TOTAL = Number(process.env.JOBS ?? 20_000)

interface ChildReport { tx: number[]; lag: number[]; runs: number; ms: number }

async function child(path: string, share: number, total: number): Promise<void> {
  const tx: number[] = []
  const lag: number[] = []
  let runs = 0
  const pool: TaskRunner = {
    catalog: () => [{ name: 'echo', summary: 'echo', input: {} }],
    stats: () => ({ workers: 1, alive: 1, queued: 0, running: 0, queueLimit: 1, utilization: [0], restarts: 0, tasks: {} }),
    run: async (_t, input) => { runs++; await Promise.resolve(); return typeof input === 'string' ? new TextEncoder().encode(input) : input },
  }
  const store = openSqliteJobStore(path, { shared: true, observe: (ms) => tx.push(ms) })
  const runner = new JobRunner({ store, pool, log: silentLogger(), concurrency: 32, queueLimit: 1_000_000, backoffBase: 100, ttl: 3_600_000, shared: true, lease: 5000 })
  let last = performance.now()
  const ticker = setInterval(() => { const now = performance.now(); lag.push(Math.max(0, now - last - 10)); last = now }, 10)
  await runner.start()
  const t0 = performance.now()
  for (let i = 0; i < share; i += 64) {
    await Promise.all(Array.from({ length: Math.min(64, share - i) }, (_, k) => runner.submit({ task: 'echo', input: `{"i":${i + k}}` })))
  }
  for (;;) {
    const c = await store.counts()
    if (c.succeeded >= total) break
    await Bun.sleep(20)
  }
  const ms = performance.now() - t0
  clearInterval(ticker)
  await runner.close()
  const report: ChildReport = { tx, lag, runs, ms }
  process.stdout.write(JSON.stringify(report))
}

async function round(processes: number): Promise<{ jobsPerS: number; tx: number[]; lag: number[]; runs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-shared-'))
  try {
    const path = join(dir, 'jobs.sqlite')
    openSqliteJobStore(path).close()
    const procs = Array.from({ length: processes }, () => Bun.spawn([process.execPath, import.meta.path, 'child', path, String(TOTAL / processes), String(TOTAL)], { stdout: 'pipe', stderr: 'inherit' }))
    const reports = await Promise.all(procs.map(async (p) => JSON.parse(await new Response(p.stdout).text()) as ChildReport))
    const db = new Database(path, { readonly: true })
    const attempts = db.query<{ a: number }, []>('SELECT sum(attempts) AS a FROM jobs').get()!.a
    db.close()
    const runs = reports.reduce((a, r) => a + r.runs, 0)
    if (attempts !== TOTAL || runs !== TOTAL) console.error(`!! ${processes} processes: ${runs} runs, ${attempts} attempts for ${TOTAL} jobs`)
    return {
      jobsPerS: TOTAL / (Math.max(...reports.map((r) => r.ms)) / 1000),
      tx: reports.flatMap((r) => r.tx).sort((a, b) => a - b),
      lag: reports.flatMap((r) => r.lag).sort((a, b) => a - b),
      runs,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'child') {
  await child(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]))
} else {
  const f = (x: number) => x.toFixed(2)
  const rows: string[] = []
  for (const n of [1, 2, 4]) {
    const r = await round(n)
    rows.push(`| ${n} | ${Math.round(r.jobsPerS)} | ${r.tx.length} | ${f(percentile(r.tx, 50))} / ${f(percentile(r.tx, 99))} / ${f(r.tx.at(-1) ?? 0)} | ${f(percentile(r.lag, 99))} / ${f(r.lag.at(-1) ?? 0)} | ${r.runs - TOTAL} |`)
  }
  const md = [
    `Command: \`bun bench/jobs/shared.ts\` (JOBS=${TOTAL}). Bun ${Bun.version}, ${new Date().toISOString()}.`,
    '',
    'One jobs.sqlite shared by N processes, each a JobRunner (leases, group commit, busy wait 5 ms in SQLite then off the loop) on a trivial task.',
    '',
    '| processes | jobs/s (all done) | transactions | transaction ms p50 / p99 / max | loop lag ms p99 / max | extra runs |',
    '| ---: | ---: | ---: | --- | --- | ---: |',
    ...rows,
  ].join('\n')
  writeResult('jobs-shared', md)
}
