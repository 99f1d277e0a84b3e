/**
 * bench/jobs/store.ts: the SQLite job store alone, no HTTP. Inserts one at a time (one submitter
 * awaiting each: a transaction each, the baseline) against the store's group commit (64
 * concurrent submitters, one transaction per event-loop turn), and claim + complete cycles.
 * Shows what group commit buys.
 *
 * @example
 * ```sh
 * bun bench/jobs/store.ts   # a few seconds, writes bench/results/jobs-store.md
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { newJob } from '../../src/jobs/model.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian as median } from '../lib/stats.ts'

const N = Number(process.env.N ?? 20_000)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const job = () => newJob({ task: 'echo', input: '{"value":1}' }, Date.now())
const result = new TextEncoder().encode('{"value":1}')

async function round(): Promise<{ auto: number; grouped: number; cycles: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-store-'))
  try {
    const a = openSqliteJobStore(join(dir, 'a.sqlite'))
    let t = performance.now()
    // One submitter awaiting each insert: every group commit holds one insert, a transaction each.
    for (let i = 0; i < N; i++) await a.insert(job())
    const auto = N / ((performance.now() - t) / 1000)
    await a.close()

    const b = openSqliteJobStore(join(dir, 'b.sqlite'))
    t = performance.now()
    await Promise.all(Array.from({ length: 64 }, async () => { for (let i = 0; i < N / 64; i++) await b.insert(job()) }))
    const grouped = N / ((performance.now() - t) / 1000)
    t = performance.now()
    let n = 0
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (;;) {
        const { jobs: [j] } = await b.claim(Date.now(), 1, { owner: 'bench', until: Date.now() + 5000 })
        if (!j) return
        await b.complete(j, result, Date.now())
        n++
      }
    }))
    const cycles = n / ((performance.now() - t) / 1000)
    await b.close()
    return { auto, grouped, cycles }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const rounds = []
for (let r = 0; r < ROUNDS; r++) rounds.push(await round())
const auto = median(rounds.map((r) => r.auto))
const grouped = median(rounds.map((r) => r.grouped))
const cycles = median(rounds.map((r) => r.cycles))
const table = [
  '| measure | per second | vs one-at-a-time inserts |',
  '| --- | ---: | ---: |',
  `| insert, one at a time (one transaction each) | ${auto.toFixed(0)} | 1.00× |`,
  `| insert, group commit (64 concurrent submitters) | ${grouped.toFixed(0)} | ${(grouped / auto).toFixed(2)}× |`,
  `| claim + complete, 4 lanes, group commit | ${cycles.toFixed(0)} | ${(cycles / auto).toFixed(2)}× |`,
].join('\n')
writeResult('jobs-store', [
  '# bench/jobs/store.ts: the SQLite job store alone',
  '',
  `Command: \`bun bench/jobs/store.ts\` (N=${N}, ROUNDS=${ROUNDS}; medians). Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${new Date().toISOString()}.`,
  'Files in the temp directory, WAL, synchronous=NORMAL. The machine was shared with other work: figures are noisy.',
  '',
  table,
  '',
].join('\n'), table)
