/**
 * bench/startup: where the compiled binary's start-up time and idle memory go.
 *
 * Builds `dist/highperf` the way `bun run build` does (into a temp dir) and, for scale, the raw
 * `Bun.serve` of bench/http compiled the same way. Each is copied alone into an empty directory
 * and started BENCH_STARTUP_RUNS times (default 15), the two interleaved so load drift on a shared
 * machine hits both. Like bench/http, the server is pinned to CPU 0 (`taskset`) and polled from
 * here every 1 ms. Pinned, the server would see one CPU and start one worker; it gets
 * `WORKERS` = this machine's cores instead (BENCH_STARTUP_WORKERS to change it), so the memory
 * measured is that of the server a user starts here with defaults. Per start it records:
 *   - spawn → listening (a TCP connect succeeds) and spawn → first 200 from GET /healthz;
 *   - highperf's own `startup phases` debug line (LOG_LEVEL=debug; src/server.ts): modules loaded
 *     before startServer, dependencies, createApp, listen;
 *   - 0.7 s after the first 200, /proc/<pid>/smaps: Rss split into anonymous memory (JS heaps of
 *     the main thread and the workers, JIT code, malloc) and the executable's own pages, by
 *     mapping: code (r-x), read-only data (r--), and data with the embedded bundle (rw-).
 * The first start of each binary (empty data directory: SQLite creates its files) is reported
 * apart and left out of the medians; the others reuse the data directory, like a restart. One
 * more start of each then takes 5 000 requests (GET /healthz and GET /users/:id) and is read
 * again after 1 s idle: the JIT compiles what serves requests, so a server that has worked uses
 * more than one that has only started.
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
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { ROOT, freePort } from '../lib/server.ts'
import { upperMedian } from '../lib/stats.ts'
import { writeResult } from '../lib/report.ts'

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 15)
const WORKERS = String(Number(process.env.BENCH_STARTUP_WORKERS ?? availableParallelism()))
const LOAD_REQUESTS = 5000
const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-startup-'))
const running = new Set<Subprocess>()
const cleanup = () => {
  for (const p of running) p.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
}
process.on('SIGINT', () => { cleanup(); process.exit(130) })

const median = (xs: number[]): number => upperMedian(xs.filter(Number.isFinite))
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

interface Memory { rss: number; anon: number; code: number; rodata: number; data: number }
interface Sample extends Memory { listen: number; firstOk: number; phases: Record<string, number> }

/** Resident MB of a process from /proc/<pid>/smaps: all, anonymous, and the executable's mappings by permission. */
function memoryOf(pid: number, exe: string): Memory {
  const m: Memory = { rss: 0, anon: 0, code: 0, rodata: 0, data: 0 }
  let kind: 'code' | 'rodata' | 'data' | undefined
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \d+\s*(.*)$/)
    if (head) {
      const [perms, path] = [head[1] ?? '', head[2] ?? '']
      kind = !path.endsWith(`/${exe}`) ? undefined : perms.startsWith('r-x') ? 'code' : perms.startsWith('rw') ? 'data' : 'rodata'
      continue
    }
    const rss = line.match(/^Rss:\s+(\d+)/)
    if (rss) {
      m.rss += Number(rss[1]) / 1024
      if (kind) m[kind] += Number(rss[1]) / 1024
    }
    const anon = line.match(/^Anonymous:\s+(\d+)/)
    if (anon) {
      m.anon += Number(anon[1]) / 1024
      // Copy-on-write pages of the executable's data segment count as anonymous, not as its pages.
      if (kind) m[kind] -= Number(anon[1]) / 1024
    }
  }
  return m
}

/** One start: spawn pinned, wait for the listener and the first 200, read memory, SIGTERM. */
async function startOnce(dir: string, name: string, env: Record<string, string>, load = false): Promise<Sample> {
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
  if (load) await exercise(port)
  await Bun.sleep(load ? 1000 : 700)
  const memory = memoryOf(proc.pid, name)
  proc.kill('SIGTERM')
  await proc.exited
  running.delete(proc)
  const line = (await stdout).split('\n').find((l) => l.includes('"startup phases"'))
  const phases = line ? (JSON.parse(line) as { startupMs: Record<string, number> }).startupMs : {}
  return { listen, firstOk, ...memory, phases }
}

/** LOAD_REQUESTS requests, 16 at a time: GET /healthz and GET /users/:id (a user it creates; raw: user 1). */
async function exercise(port: number): Promise<void> {
  const base = `http://127.0.0.1:${port}`
  const created = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Bench', email: `bench-${Date.now()}@example.com` }) })
  await created.arrayBuffer()
  const user = created.headers.get('location') ?? '/users/1'
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < LOAD_REQUESTS) {
      const i = next++
      const res = await fetch(`${base}${i % 2 === 1 ? user : '/healthz'}`)
      await res.arrayBuffer()
    }
  }))
}

interface Target { name: string; built: string; env: Record<string, string>; dir: string; first?: Sample; samples: Sample[]; loaded?: Sample }

const buildDir = join(tmp, 'build')
mkdirSync(buildDir)
const b = Bun.spawnSync([process.execPath, 'run', 'scripts/build.ts', '--outfile', join(buildDir, 'highperf')], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
if (b.exitCode !== 0) {
  cleanup()
  throw new Error(`build failed: ${b.stdout.toString()}${b.stderr.toString()}`)
}
// The last command printed is the final pass (scripts/build.ts builds twice).
const buildLine = b.stdout.toString().split('\n').filter((l) => l.startsWith('$ ')).pop() ?? ''
const r = Bun.spawnSync([process.execPath, 'build', '--compile', '--minify', join(ROOT, 'bench/http/raw.ts'), '--outfile', join(buildDir, 'raw')], { stdout: 'pipe', stderr: 'pipe' })
const targets: Target[] = [
  { name: 'highperf', built: join(buildDir, 'highperf'), env: { LOG_LEVEL: 'debug', ACCESS_LOG: 'off', WORKERS }, dir: '', samples: [] },
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
  for (const t of targets) t.loaded = await startOnce(t.dir, t.name, t.env, true)
} finally {
  cleanup()
}

const [hp, raw] = targets as [Target, Target | undefined]
const col = (t: Target | undefined, f: (s: Sample) => number, d = 1) => (t ? fmt(median(t.samples.map(f)), d) : 'n/a')
const phaseNames = Object.keys(hp.samples[0]?.phases ?? {})
const lines: string[] = []
lines.push('## Start-up and idle memory of the compiled binary (bench/startup)', '')
lines.push(`Command: \`bun bench/startup/index.ts\` (BENCH_STARTUP_RUNS=${RUNS}); Bun ${Bun.version}; ${new Date().toISOString().slice(0, 16)}Z; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores. Server pinned to CPU 0, polled every 1 ms, highperf with WORKERS=${WORKERS} (this machine's default) and otherwise default settings; medians of ${RUNS} restarts (data directory kept).`, '')
lines.push(`Build: \`${buildLine.slice(2)}\``, '')
lines.push('| | highperf | raw Bun.serve (compiled) |')
lines.push('|---|---:|---:|')
lines.push(`| spawn → listening (ms) | ${col(hp, (s) => s.listen, 0)} | ${col(raw, (s) => s.listen, 0)} |`)
lines.push(`| spawn → first 200 on /healthz (ms) | ${col(hp, (s) => s.firstOk, 0)} | ${col(raw, (s) => s.firstOk, 0)} |`)
lines.push(`| listening → first 200 (ms) | ${col(hp, (s) => s.firstOk - s.listen, 0)} | ${col(raw, (s) => s.firstOk - s.listen, 0)} |`)
lines.push(`| first start, empty data dir: first 200 (ms) | ${hp.first ? fmt(hp.first.firstOk, 0) : 'n/a'} | ${raw?.first ? fmt(raw.first.firstOk, 0) : 'n/a'} |`)
lines.push(`| idle RSS (MB) | ${col(hp, (s) => s.rss)} | ${col(raw, (s) => s.rss)} |`)
lines.push(`| of which anonymous: JS heaps, workers, JIT, malloc (MB) | ${col(hp, (s) => s.anon)} | ${col(raw, (s) => s.anon)} |`)
lines.push(`| of which the executable's pages (MB) | ${col(hp, (s) => s.code + s.rodata + s.data)} | ${col(raw, (s) => s.code + s.rodata + s.data)} |`)
lines.push(`| … its code, r-x (MB) | ${col(hp, (s) => s.code)} | ${col(raw, (s) => s.code)} |`)
lines.push(`| … its read-only data, r-- (MB) | ${col(hp, (s) => s.rodata)} | ${col(raw, (s) => s.rodata)} |`)
lines.push(`| … its data and embedded bundle (bytecode, sources, assets), rw- (MB) | ${col(hp, (s) => s.data)} | ${col(raw, (s) => s.data)} |`)
lines.push(`| other (shared libraries, MB) | ${col(hp, (s) => s.rss - s.anon - s.code - s.rodata - s.data)} | ${col(raw, (s) => s.rss - s.anon - s.code - s.rodata - s.data)} |`)
const loadedCol = (t: Target | undefined) => (t?.loaded ? `${fmt(t.loaded.rss)} (${fmt(t.loaded.anon)} anonymous)` : 'n/a')
lines.push(`| RSS 1 s after ${LOAD_REQUESTS} requests, one start (MB) | ${loadedCol(hp)} | ${loadedCol(raw)} |`)
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
