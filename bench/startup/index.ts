/**
 * bench/startup: where the compiled binary's start-up time and idle memory go.
 *
 * Builds `dist/highperf` the way `bun run build` does (into a temp dir) and, for scale, two more
 * compiled programs: the floor (./floor.ts: Elysia, bun:sqlite with three databases and as many
 * empty Workers as highperf gets, compiled with highperf's flags, `COMPILE_FLAGS` of
 * scripts/build.ts), and the raw `Bun.serve` of bench/http (`--compile --minify`). Each is copied
 * alone into an empty directory and started BENCH_STARTUP_RUNS times (default 15), interleaved so
 * load drift on a shared machine hits all. The copy matters: a file just written sits in the page
 * cache in large folios, and a fault maps more of its neighbours than for a file read back later
 * (the same highperf binary: 34.5 MB of code resident from a fresh copy, 32.3 MB from a copy aged
 * by other runs), so compare columns of one run, all fresh copies. Like bench/http, the server is pinned to CPU 0 (`taskset`) and polled from
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
 * more start of highperf and raw then takes 5 000 requests (GET /healthz and GET /users/:id) and
 * is read again after 1 s idle: the JIT compiles what serves requests, so a server that has
 * worked uses more than one that has only started.
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
import { COMPILE_FLAGS } from '../../scripts/build.ts'

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

interface Target { name: string; built: string; env: Record<string, string>; dir: string; first?: Sample; samples: Sample[]; loaded?: Sample; exercise: boolean }

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
const f = Bun.spawnSync([process.execPath, 'build', ...COMPILE_FLAGS, './bench/startup/floor.ts', './bench/startup/floor-worker.ts', '--outfile', join(buildDir, 'floor')], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
const targets: Target[] = [
  { name: 'highperf', built: join(buildDir, 'highperf'), env: { LOG_LEVEL: 'debug', ACCESS_LOG: 'off', WORKERS }, dir: '', samples: [], exercise: true },
]
if (f.exitCode === 0) targets.push({ name: 'floor', built: join(buildDir, 'floor'), env: { FLOOR_WORKERS: WORKERS }, dir: '', samples: [], exercise: false })
else process.stderr.write(`bench/startup: the floor did not build, its column is left out:\n${f.stderr.toString()}\n`)
if (r.exitCode === 0) targets.push({ name: 'raw', built: join(buildDir, 'raw'), env: {}, dir: '', samples: [], exercise: true })
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
  for (const t of targets) if (t.exercise) t.loaded = await startOnce(t.dir, t.name, t.env, true)
} finally {
  cleanup()
}

const hp = targets[0] as Target
const floor = targets.find((t) => t.name === 'floor')
const raw = targets.find((t) => t.name === 'raw')
const col = (t: Target | undefined, f: (s: Sample) => number, d = 1) => (t ? fmt(median(t.samples.map(f)), d) : 'n/a')
const phaseNames = Object.keys(hp.samples[0]?.phases ?? {})
const lines: string[] = []
lines.push('## Start-up and idle memory of the compiled binary (bench/startup)', '')
lines.push(`Command: \`bun bench/startup/index.ts\` (BENCH_STARTUP_RUNS=${RUNS}); Bun ${Bun.version}; ${new Date().toISOString().slice(0, 16)}Z; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores. Server pinned to CPU 0, polled every 1 ms, highperf with WORKERS=${WORKERS} (this machine's default) and otherwise default settings; medians of ${RUNS} restarts (data directory kept).`, '')
lines.push(`Build: \`${buildLine.slice(2)}\``, '')
const row = (label: string, cell: (t: Target | undefined) => string) => lines.push(`| ${label} | ${cell(hp)} | ${cell(floor)} | ${cell(raw)} |`)
lines.push(`| | highperf | floor: Elysia + bun:sqlite + ${WORKERS} empty Workers (compiled alike) | raw Bun.serve (compiled) |`)
lines.push('|---|---:|---:|---:|')
row('spawn → listening (ms)', (t) => col(t, (s) => s.listen, 0))
row('spawn → first 200 on /healthz (ms)', (t) => col(t, (s) => s.firstOk, 0))
row('listening → first 200 (ms)', (t) => col(t, (s) => s.firstOk - s.listen, 0))
row('first start, empty data dir: first 200 (ms)', (t) => (t?.first ? fmt(t.first.firstOk, 0) : 'n/a'))
row('idle RSS (MB)', (t) => col(t, (s) => s.rss))
row('of which anonymous: JS heaps, workers, JIT, malloc (MB)', (t) => col(t, (s) => s.anon))
row("of which the executable's pages (MB)", (t) => col(t, (s) => s.code + s.rodata + s.data))
row('… its code, r-x (MB)', (t) => col(t, (s) => s.code))
row('… its read-only data, r-- (MB)', (t) => col(t, (s) => s.rodata))
row('… its data and embedded bundle (bytecode, sources, assets), rw- (MB)', (t) => col(t, (s) => s.data))
row('other (shared libraries, MB)', (t) => col(t, (s) => s.rss - s.anon - s.code - s.rodata - s.data))
row(`RSS 1 s after ${LOAD_REQUESTS} requests, one start (MB)`, (t) => (t?.loaded ? `${fmt(t.loaded.rss)} (${fmt(t.loaded.anon)} anonymous)` : 'n/a'))
lines.push('')
if (phaseNames.length > 0) {
  lines.push('highperf start-up phases (medians, ms; from its `startup phases` debug line, src/server.ts):', '')
  lines.push(`| ${phaseNames.join(' | ')} |`)
  lines.push(`|${phaseNames.map(() => '---:').join('|')}|`)
  lines.push(`| ${phaseNames.map((p) => fmt(median(hp.samples.map((s) => s.phases[p] ?? Number.NaN)))).join(' | ')} |`)
  lines.push('')
}
lines.push('Targets: first 200 ≤ 100 ms after spawn (issue 2); idle RSS ≤ 45 MB with 2 workers (issue 16), which is about the floor itself. docs/operations.md#startup-time-and-memory explains the parts.', '')
lines.push('The machine is shared and was loaded by other work during runs: figures are noisy; compare columns of one run, not runs.', '')

writeResult('startup', lines.join('\n'))
