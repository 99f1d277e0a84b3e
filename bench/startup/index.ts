/**
 * bench/startup: where the compiled binary's start-up time and idle memory go.
 *
 * Builds `dist/highperf` the way `bun run build` does (into a temp dir) and, for scale, the raw
 * `Bun.serve` of bench/http compiled the same way. Each is copied alone into an empty directory
 * and started BENCH_STARTUP_RUNS times (default 15), the two interleaved so load drift on a shared
 * machine hits both. Like bench/http, the server is pinned to CPU 0 (`taskset`) and polled from
 * here every 1 ms. Per start it records:
 *   - spawn → listening (a TCP connect succeeds) and spawn → first 200 from GET /healthz;
 *   - highperf's own `startup phases` debug line (LOG_LEVEL=debug; src/server.ts): modules loaded
 *     before startServer, dependencies, createApp, listen;
 *   - 0.7 s after the first 200, /proc/<pid>/smaps_rollup: Rss split into anonymous memory (JS
 *     heaps, workers, malloc) and file-backed pages (the executable itself, shared page cache).
 * The first start of each binary (empty data directory: SQLite creates its files) is reported
 * apart and left out of the medians; the others reuse the data directory, like a restart.
 *
 * Writes bench/results/startup.md and prints it.
 *
 * @example
 * ```sh
 * bun bench/startup/index.ts                        # ~30 s
 * BENCH_STARTUP_RUNS=5 bun bench/startup/index.ts   # a quick look
 * ```
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { ROOT, freePort } from '../lib/server.ts'
import { upperMedian } from '../lib/stats.ts'
import { writeResult } from '../lib/report.ts'

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 15)
const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-startup-'))
const running = new Set<Subprocess>()
const cleanup = () => {
  for (const p of running) p.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
}
process.on('SIGINT', () => { cleanup(); process.exit(130) })

const median = (xs: number[]): number => upperMedian(xs.filter(Number.isFinite))
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

interface Sample { listen: number; firstOk: number; rss: number; anon: number; phases: Record<string, number> }

/** One start: spawn pinned, wait for the listener and the first 200, read memory, SIGTERM. */
async function startOnce(dir: string, name: string, env: Record<string, string>): Promise<Sample> {
  const port = freePort()
  const started = performance.now()
  const proc = Bun.spawn(['taskset', '-c', '0', `./${name}`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  running.add(proc)
  const stdout = new Response(proc.stdout).text()
  let listen = 0
  let firstOk = 0
  while (firstOk === 0) {
    if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${await new Response(proc.stderr).text()}`)
    if (performance.now() - started > 30_000) throw new Error(`${name} did not answer /healthz within 30 s`)
    if (listen === 0) {
      try {
        const s = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
        listen = performance.now() - started
        s.end()
      } catch { await Bun.sleep(1); continue }
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`)
      await res.arrayBuffer()
      if (res.status === 200) firstOk = performance.now() - started
    } catch { /* not answering yet */ }
    if (firstOk === 0) await Bun.sleep(1)
  }
  await Bun.sleep(700)
  const rollup = readFileSync(`/proc/${proc.pid}/smaps_rollup`, 'utf8')
  const mb = (key: string) => Number(rollup.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))?.[1] ?? Number.NaN) / 1024
  proc.kill('SIGTERM')
  await proc.exited
  running.delete(proc)
  const line = (await stdout).split('\n').find((l) => l.includes('"startup phases"'))
  const phases = line ? (JSON.parse(line) as { startupMs: Record<string, number> }).startupMs : {}
  return { listen, firstOk, rss: mb('Rss'), anon: mb('Anonymous'), phases }
}

interface Target { name: string; built: string; env: Record<string, string>; dir: string; first?: Sample; samples: Sample[] }

const buildDir = join(tmp, 'build')
mkdirSync(buildDir)
const b = Bun.spawnSync([process.execPath, 'run', 'scripts/build.ts', '--outfile', join(buildDir, 'highperf')], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
if (b.exitCode !== 0) {
  cleanup()
  throw new Error(`build failed: ${b.stdout.toString()}${b.stderr.toString()}`)
}
const buildLine = b.stdout.toString().split('\n').find((l) => l.startsWith('$ ')) ?? ''
const r = Bun.spawnSync([process.execPath, 'build', '--compile', '--minify', join(ROOT, 'bench/http/raw.ts'), '--outfile', join(buildDir, 'raw')], { stdout: 'pipe', stderr: 'pipe' })
const targets: Target[] = [
  { name: 'highperf', built: join(buildDir, 'highperf'), env: { LOG_LEVEL: 'debug', ACCESS_LOG: 'off' }, dir: '', samples: [] },
]
if (r.exitCode === 0) targets.push({ name: 'raw', built: join(buildDir, 'raw'), env: {}, dir: '', samples: [] })
for (const t of targets) {
  t.dir = join(tmp, `run-${t.name}`)
  mkdirSync(t.dir)
  copyFileSync(t.built, join(t.dir, t.name))
  Bun.spawnSync(['chmod', '755', join(t.dir, t.name)])
}

try {
  for (let i = -1; i < RUNS; i++) {
    for (const t of targets) {
      const s = await startOnce(t.dir, t.name, t.env)
      if (i < 0) t.first = s
      else t.samples.push(s)
    }
  }
} finally {
  cleanup()
}

const [hp, raw] = targets as [Target, Target | undefined]
const col = (t: Target | undefined, f: (s: Sample) => number, d = 1) => (t ? fmt(median(t.samples.map(f)), d) : 'n/a')
const phaseNames = Object.keys(hp.samples[0]?.phases ?? {})
const lines: string[] = []
lines.push('## Start-up and idle memory of the compiled binary (bench/startup)', '')
lines.push(`Command: \`bun bench/startup/index.ts\` (BENCH_STARTUP_RUNS=${RUNS}); Bun ${Bun.version}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${navigator.hardwareConcurrency} cores. Server pinned to CPU 0, polled every 1 ms; medians of ${RUNS} restarts (data directory kept).`, '')
lines.push(`Build: \`${buildLine.slice(2)}\``, '')
lines.push('| | highperf | raw Bun.serve (compiled) |')
lines.push('|---|---:|---:|')
lines.push(`| spawn → listening (ms) | ${col(hp, (s) => s.listen, 0)} | ${col(raw, (s) => s.listen, 0)} |`)
lines.push(`| spawn → first 200 on /healthz (ms) | ${col(hp, (s) => s.firstOk, 0)} | ${col(raw, (s) => s.firstOk, 0)} |`)
lines.push(`| listening → first 200 (ms) | ${col(hp, (s) => s.firstOk - s.listen, 0)} | ${col(raw, (s) => s.firstOk - s.listen, 0)} |`)
lines.push(`| first start, empty data dir: first 200 (ms) | ${hp.first ? fmt(hp.first.firstOk, 0) : 'n/a'} | ${raw?.first ? fmt(raw.first.firstOk, 0) : 'n/a'} |`)
lines.push(`| idle RSS (MB) | ${col(hp, (s) => s.rss)} | ${col(raw, (s) => s.rss)} |`)
lines.push(`| of which anonymous (MB) | ${col(hp, (s) => s.anon)} | ${col(raw, (s) => s.anon)} |`)
lines.push(`| of which file-backed: the executable's pages (MB) | ${col(hp, (s) => s.rss - s.anon)} | ${col(raw, (s) => s.rss - s.anon)} |`)
lines.push('')
if (phaseNames.length > 0) {
  lines.push('highperf start-up phases (medians, ms; from its `startup phases` debug line, src/server.ts):', '')
  lines.push(`| ${phaseNames.join(' | ')} |`)
  lines.push(`|${phaseNames.map(() => '---:').join('|')}|`)
  lines.push(`| ${phaseNames.map((p) => fmt(median(hp.samples.map((s) => s.phases[p] ?? Number.NaN)))).join(' | ')} |`)
  lines.push('')
}
lines.push('Targets (issue 2): first 200 ≤ 100 ms after spawn; idle RSS < 60 MB. docs/operations.md#startup-time-and-memory explains the parts.', '')
lines.push('The machine is shared and was loaded by other work during runs: figures are noisy; compare columns of one run, not runs.', '')

writeResult('startup', lines.join('\n'))
