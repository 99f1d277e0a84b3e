/**
 * bench/http: HTTP throughput and latency of highperf against raw `Bun.serve` and Go net/http,
 * measured in one run, plus the compiled binary's startup time and idle RSS.
 *
 * Load: wrk (Debian), one thread, 64 connections, BENCH_DURATION seconds (default 2) per cell,
 * BENCH_ROUNDS rounds (default 8), medians; within a round the servers of one endpoint run back to
 * back, and ratios are medians of per-round ratios, so load drift on a shared machine cancels. The
 * server is pinned to CPU 0 and wrk to CPU 1 with `taskset`, so the figures are one core's worth
 * of serving. Every variant answers the same two requests:
 *   GET /healthz     text `ok`
 *   GET /users/:id   raw Bun.serve and Go: a Map lookup; highperf: a bun:sqlite read
 * highperf runs twice: with the optional stack off (RATE_LIMIT_RPS=0, ACCESS_LOG=off) and on
 * (rate limit with a limit far above the load, metrics, access log to a file, tracing export off).
 * Two more raw Bun.serve rows do only the work highperf cannot skip (raw.ts's RAW_MODE): the two
 * headers every answer carries, then also the client address and an access-log line. They show
 * the ceiling that work leaves for any implementation on this Bun and machine.
 *
 * Writes bench/results/http.md and prints it.
 *
 * @example
 * ```sh
 * bun bench/http/index.ts                 # ~2.5 minutes
 * BENCH_DURATION=2 BENCH_ROUNDS=1 bun bench/http/index.ts   # a quick look
 * BENCH_STARTUP_RUNS=0 bun bench/http/index.ts               # throughput only, no binary build
 * ```
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { writeResult } from '../lib/report.ts'
import { startServer, stop as stopServer } from '../lib/server.ts'
import { median } from '../lib/stats.ts'
import { wrk as runWrk } from '../lib/wrk.ts'

const ROOT = resolve(import.meta.dir, '../..')
const DURATION = Number(process.env.BENCH_DURATION ?? 2)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const STARTUP_RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 10)
const SERVER_CPU = '0'
const LOAD_CPU = '1'
const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-http-'))
const loadStart = loadavg().map((l) => l.toFixed(1)).join(' ')

const has = (tool: string) => Bun.which(tool) !== null
for (const tool of ['wrk', 'taskset']) {
  if (!has(tool)) {
    console.error(`bench/http: ${tool} is missing (apt-get install wrk util-linux)`)
    process.exit(1)
  }
}

const running = new Set<Subprocess>()
const cleanup = () => {
  for (const p of running) p.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
}
process.on('SIGINT', () => { cleanup(); process.exit(130) })

/** Starts `cmd` pinned to the server CPU and waits for GET /healthz -> 200; returns ms to first 200. */
async function startPinned(cmd: string[], env: Record<string, string>, cwd = ROOT): Promise<{ proc: Subprocess; port: number; firstOkMs: number }> {
  const s = await startServer({ cmd, env, cwd, cpu: SERVER_CPU, stderr: 'pipe', pollMs: 1 })
  running.add(s.proc)
  return s
}

async function stop(proc: Subprocess): Promise<number> {
  const ms = await stopServer(proc)
  running.delete(proc)
  return ms
}

/** A `/proc/<pid>/status` memory line in MB: VmRSS (all resident) or RssAnon (heap, stacks; not the executable's pages). */
const rssMb = (pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number => {
  try {
    const kb = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+)`))?.[1] ?? Number.NaN)
    return kb / 1024
  } catch { return Number.NaN }
}

interface WrkResult { rps: number; p50: number; p99: number; requests: number; bad: number }

/** One wrk run pinned to the load CPU; latency in ms; `bad` counts non-2xx/3xx answers and socket errors. */
async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const r = await runWrk(url, { seconds, connections: CONNECTIONS, latency: true, cpu: LOAD_CPU })
  if (Number.isNaN(r.rps)) throw new Error(`wrk output not understood:\n${r.output}`)
  return { rps: r.rps, p50: r.p50, p99: r.p99, requests: r.requests, bad: r.non2xx + r.socketErrors }
}

// --- the servers ---------------------------------------------------------------------------
interface Variant { name: string; cmd: string[]; env: Record<string, string>; users: 'map' | 'sqlite' }
const highperfEnv = (dir: string): Record<string, string> => ({
  DATA_DIR: join(tmp, dir, 'data'),
  FILES_DIR: join(tmp, dir, 'files'),
  WORKERS: '1',
  LOG_LEVEL: 'warn',
})
const variants: Variant[] = [
  { name: 'raw Bun.serve', cmd: [process.execPath, join(import.meta.dir, 'raw.ts')], env: {}, users: 'map' },
  // The floors highperf's mandatory work sets (bench/http/raw.ts): for information, next to the targets.
  { name: 'raw + required headers', cmd: [process.execPath, join(import.meta.dir, 'raw.ts')], env: { RAW_MODE: 'headers' }, users: 'map' },
  { name: 'raw + headers, sqlite read', cmd: [process.execPath, join(import.meta.dir, 'raw.ts')], env: { RAW_MODE: 'sqlite', RAW_DB: join(tmp, 'raw-users.sqlite') }, users: 'map' },
  { name: 'raw + headers, client ip, access line', cmd: [process.execPath, join(import.meta.dir, 'raw.ts')], env: { RAW_MODE: 'full', RAW_ACCESS_LOG: join(tmp, 'raw-access.log') }, users: 'map' },
  {
    name: 'highperf, stack off',
    cmd: [process.execPath, 'src/main.ts'],
    env: { ...highperfEnv('off'), RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off' },
    users: 'sqlite',
  },
  {
    name: 'highperf, full stack',
    cmd: [process.execPath, 'src/main.ts'],
    // LOG_LEVEL=info: above info the access log is not in the stack at all, so 'warn' measured no access log.
    env: { ...highperfEnv('full'), LOG_LEVEL: 'info', RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000', ACCESS_LOG: join(tmp, 'access.log') },
    users: 'sqlite',
  },
]
let goNote = ''
if (has('go')) {
  const goBin = join(tmp, 'go-peer')
  const b = Bun.spawnSync(['go', 'build', '-o', goBin, '.'], { cwd: join(import.meta.dir, '../peers/go'), env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: join(tmp, 'gocache') }, stderr: 'pipe' })
  if (b.exitCode === 0) variants.push({ name: 'Go net/http', cmd: [goBin], env: {}, users: 'map' })
  else goNote = `Go baseline not built: ${b.stderr.toString().trim()}`
} else {
  goNote = 'Go baseline skipped: `go` is not installed (apt-get install golang-go).'
}

interface Cell { variant: string; endpoint: string; url: string; runs: WrkResult[]; note?: string }
const ENDPOINTS = ['GET /healthz', 'GET /users/:id'] as const
const cells: Cell[] = []
const servers: Array<{ variant: Variant; proc: Subprocess; port: number }> = []

console.log(`bench/http: ${variants.length} servers on CPU ${SERVER_CPU}, wrk on CPU ${LOAD_CPU}, -c${CONNECTIONS} ${DURATION}s x ${ROUNDS} rounds`)
try {
  for (const v of variants) {
    const s = await startPinned(v.cmd, v.env)
    servers.push({ variant: v, proc: s.proc, port: s.port })
    const base = `http://127.0.0.1:${s.port}`
    cells.push({ variant: v.name, endpoint: 'GET /healthz', url: `${base}/healthz`, runs: [] })
    if (v.users === 'map') {
      cells.push({ variant: v.name, endpoint: 'GET /users/:id', url: `${base}/users/1`, runs: [] })
    } else {
      const res = await fetch(`${base}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Bench User', email: 'bench@example.com' }),
      })
      const location = res.headers.get('location')
      if (res.status === 201 && location) cells.push({ variant: v.name, endpoint: 'GET /users/:id', url: `${base}${location}`, runs: [] })
      else cells.push({ variant: v.name, endpoint: 'GET /users/:id', url: '', runs: [], note: `POST /users answered ${res.status}` })
    }
  }
  // Sanity: every URL answers 200 before it is measured (a 404 or 429 would be "fast" for nothing).
  for (const c of cells) {
    if (!c.url) continue
    const res = await fetch(c.url)
    await res.arrayBuffer()
    if (res.status !== 200) { c.note = `answers ${res.status}`; c.url = '' }
  }
  // Warm-up: JIT and caches, one second per cell.
  for (const c of cells) if (c.url) await wrk(c.url, 1)
  for (let round = 0; round < ROUNDS; round++) {
    // Per endpoint, the servers run back to back (the order rotating each round), so each ratio
    // to raw Bun.serve compares runs seconds apart: on a shared machine the load drifts a lot
    // between rounds, much less within one.
    const order: Cell[] = []
    for (const endpoint of ENDPOINTS) {
      const group = cells.filter((c) => c.endpoint === endpoint && c.url)
      for (let i = 0; i < group.length; i++) order.push(group[(i + round) % group.length] as Cell)
    }
    for (const c of order) {
      const r = await wrk(c.url, DURATION)
      c.runs.push(r)
      console.log(`  round ${round + 1}: ${c.variant.padEnd(22)} ${c.endpoint.padEnd(15)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms${r.bad ? `  BAD ${r.bad}` : ''}`)
    }
  }
} finally {
  for (const s of servers) {
    s.variant.name.startsWith('highperf') && console.log(`  ${s.variant.name}: RSS after load ${rssMb(s.proc.pid).toFixed(1)} MB`)
    await stop(s.proc)
  }
}

// --- the compiled binary: startup to first 200, idle RSS ----------------------------------
interface Startup { firstOk: number[]; rss: number[]; anon: number[]; stopMs: number[]; size: number; note?: string }

/** Copies `built` alone into an empty directory and starts it STARTUP_RUNS times. */
async function measureStartup(built: string, name: string, env: Record<string, string>): Promise<Startup> {
  const out: Startup = { firstOk: [], rss: [], anon: [], stopMs: [], size: Bun.file(built).size }
  const runDir = join(tmp, `run-${name}`)
  mkdirSync(runDir)
  copyFileSync(built, join(runDir, name))
  Bun.spawnSync(['chmod', '755', join(runDir, name)])
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const s = await startPinned([`./${name}`], env, runDir)
    out.firstOk.push(s.firstOkMs)
    await Bun.sleep(500)
    out.rss.push(rssMb(s.proc.pid))
    out.anon.push(rssMb(s.proc.pid, 'RssAnon'))
    out.stopMs.push(await stop(s.proc))
  }
  return out
}

let startup: Startup = { firstOk: [], rss: [], anon: [], stopMs: [], size: 0 }
let rawStartup: Startup | undefined
if (STARTUP_RUNS === 0) startup.note = 'skipped (BENCH_STARTUP_RUNS=0)'
else {
  const built = join(tmp, 'build', 'highperf')
  const b = Bun.spawnSync([process.execPath, 'run', 'scripts/build.ts', '--outfile', built], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  if (b.exitCode !== 0) {
    startup.note = `build failed: ${(b.stdout.toString() + b.stderr.toString()).trim().split('\n').slice(-3).join(' / ')}`
  } else {
    startup = await measureStartup(built, 'highperf', { LOG_LEVEL: 'warn', ACCESS_LOG: 'off' })
  }
  // The floor: raw.ts compiled the same way, measured the same way.
  const rawBuilt = join(tmp, 'build', 'raw')
  const r = Bun.spawnSync([process.execPath, 'build', '--compile', '--minify', join(import.meta.dir, 'raw.ts'), '--outfile', rawBuilt], { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode === 0) rawStartup = await measureStartup(rawBuilt, 'raw', {})
}
cleanup()

// --- the report ---------------------------------------------------------------------------
const pct = (n: number) => (Number.isFinite(n) ? `${fmt(n, 1)} %` : 'n/a')
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a')
const med = (c: Cell | undefined, k: keyof WrkResult) => (c && c.runs.length ? median(c.runs.map((r) => r[k])) : Number.NaN)
/** Median over rounds of a's req/s divided by b's in the same round (paired: drift cancels). */
const paired = (a: Cell | undefined, b: Cell | undefined) =>
  a && b && a.runs.length > 0 && a.runs.length === b.runs.length
    ? median(a.runs.map((r, i) => r.rps / (b.runs[i] as WrkResult).rps))
    : Number.NaN
const find = (variant: string, endpoint: string) => cells.find((c) => c.variant === variant && c.endpoint === endpoint)
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.+)/)?.[1] ?? 'unknown CPU'
const goVersion = has('go') ? Bun.spawnSync(['go', 'version']).stdout.toString().trim().split(' ')[2] : 'n/a'
const wrkVersion = Bun.spawnSync(['wrk', '-v']).stdout.toString().split('\n')[0]?.split(' ').slice(0, 2).join(' ') ?? 'wrk'

const lines: string[] = []
lines.push('## HTTP: highperf vs raw Bun.serve vs Go net/http (bench/http)', '')
lines.push(`Command: \`bun bench/http/index.ts\` (part of \`bun run bench\`). ${wrkVersion} \`-t1 -c${CONNECTIONS} -d${DURATION}s --latency\`, ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}, medians; ratios are medians of per-round ratios (servers of one endpoint run back to back); server pinned to CPU ${SERVER_CPU}, wrk to CPU ${LOAD_CPU} (\`taskset\`). ${cpu}, ${(await import('node:os')).cpus().length} cores, Bun ${Bun.version}, Go ${goVersion}, ${new Date().toISOString().slice(0, 16)}Z, load average ${loadStart} at start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end. highperf runs from source with WORKERS=1; its /users/:id is a bun:sqlite read, the baselines' a Map lookup.`, '')
lines.push('| endpoint | server | req/s | p50 ms | p99 ms | vs raw Bun.serve | notes |', '| --- | --- | ---: | ---: | ---: | ---: | --- |')
for (const endpoint of ENDPOINTS) {
  const raw = find('raw Bun.serve', endpoint)
  for (const v of variants) {
    const c = find(v.name, endpoint)
    if (!c) continue
    const rps = med(c, 'rps')
    const bad = c.runs.reduce((a, r) => a + r.bad, 0)
    const note = [c.note, bad ? `${bad} errors/non-2xx` : ''].filter(Boolean).join('; ')
    lines.push(`| ${endpoint} | ${v.name} | ${fmt(rps)} | ${fmt(med(c, 'p50'), 2)} | ${fmt(med(c, 'p99'), 2)} | ${pct(100 * paired(c, raw))} | ${note} |`)
  }
}
lines.push('')
if (goNote) lines.push(goNote, '')

const firstOk = median(startup.firstOk)
const idleRss = median(startup.rss)
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : '**missed**')
const known = (n: number) => (Number.isFinite(n) ? n : undefined)
const check = (value: number | undefined, ok: (v: number) => boolean) => verdict(value === undefined ? undefined : ok(value))

lines.push('| target | measured | verdict |', '| --- | ---: | --- |')
const rHzOff = known(paired(find('highperf, stack off', 'GET /healthz'), find('raw Bun.serve', 'GET /healthz')))
const rHzFull = known(paired(find('highperf, full stack', 'GET /healthz'), find('raw Bun.serve', 'GET /healthz')))
const rUsOff = known(paired(find('highperf, stack off', 'GET /users/:id'), find('raw Bun.serve', 'GET /users/:id')))
const rUsFull = known(paired(find('highperf, full stack', 'GET /users/:id'), find('raw Bun.serve', 'GET /users/:id')))
const rGo = known(paired(find('highperf, full stack', 'GET /healthz'), find('Go net/http', 'GET /healthz')))
lines.push(`| /healthz, stack off ≥ 90 % of raw Bun.serve | ${pct(100 * (rHzOff ?? Number.NaN))} | ${check(rHzOff, (v) => v >= 0.9)} |`)
lines.push(`| /healthz, full stack ≥ 85 % of raw Bun.serve | ${pct(100 * (rHzFull ?? Number.NaN))} | ${check(rHzFull, (v) => v >= 0.85)} |`)
lines.push(`| /users/:id (sqlite), stack off ≥ 75 % of raw Map lookup | ${pct(100 * (rUsOff ?? Number.NaN))} | ${check(rUsOff, (v) => v >= 0.75)} |`)
lines.push(`| /users/:id (sqlite), full stack (for information) | ${pct(100 * (rUsFull ?? Number.NaN))} | — |`)
lines.push(`| /healthz, full stack ≥ 1.8 × Go net/http | ${fmt(rGo ?? Number.NaN, 2)} × | ${check(rGo, (v) => v >= 1.8)} |`)
// The floors: what the mandatory work alone costs raw Bun.serve (raw.ts's RAW_MODE), and how close highperf comes to them.
const floorHz = known(paired(find('raw + required headers', 'GET /healthz'), find('raw Bun.serve', 'GET /healthz')))
const floorHzFull = known(paired(find('raw + headers, client ip, access line', 'GET /healthz'), find('raw Bun.serve', 'GET /healthz')))
const floorUs = known(paired(find('raw + required headers', 'GET /users/:id'), find('raw Bun.serve', 'GET /users/:id')))
const floorUsSql = known(paired(find('raw + headers, sqlite read', 'GET /users/:id'), find('raw Bun.serve', 'GET /users/:id')))
lines.push(`| floor: raw Bun.serve + the two required headers, /healthz (for information) | ${pct(100 * (floorHz ?? Number.NaN))} | — |`)
lines.push(`| floor: raw + headers + client ip + access line, /healthz (for information) | ${pct(100 * (floorHzFull ?? Number.NaN))} | — |`)
lines.push(`| floor: raw + the two required headers, /users/:id Map lookup (for information) | ${pct(100 * (floorUs ?? Number.NaN))} | — |`)
lines.push(`| floor: raw + the two required headers, /users/:id bun:sqlite read (for information) | ${pct(100 * (floorUsSql ?? Number.NaN))} | — |`)
lines.push(`| binary: first 200 from /healthz ≤ 100 ms after spawn (median of ${startup.firstOk.length}) | ${fmt(firstOk, 0)} ms | ${check(known(firstOk), (v) => v <= 100)} |`)
lines.push(`| binary: idle RSS < 60 MB (median, 0.5 s after first 200) | ${fmt(idleRss, 1)} MB | ${check(known(idleRss), (v) => v < 60)} |`)
lines.push('')
if (startup.note) lines.push(`Binary not measured: ${startup.note}`, '')
else {
  lines.push(`Binary: ${fmt(startup.size / 1e6, 0)} MB, started alone in an empty directory with defaults, pinned to one CPU (so WORKERS defaults to 1 here; bench/startup measures it with this machine's cores); first-200 range ${fmt(Math.min(...startup.firstOk), 0)}–${fmt(Math.max(...startup.firstOk), 0)} ms (spawn → a 1 ms poll loop of GET /healthz from CPU ${LOAD_CPU}), SIGTERM → exit median ${fmt(median(startup.stopMs), 0)} ms. Of the idle RSS, ${fmt(median(startup.anon), 1)} MB is anonymous memory (JS heaps, worker threads, malloc); the rest is file-backed pages of the executable itself (shared, reclaimable).${rawStartup ? ` For scale, raw.ts compiled the same way: first 200 after ${fmt(median(rawStartup.firstOk), 0)} ms, idle RSS ${fmt(median(rawStartup.rss), 1)} MB (${fmt(median(rawStartup.anon), 1)} MB anonymous).` : ''}`, '')
}
lines.push('The machine is shared and was loaded by other work during runs: figures are noisy; compare rows of one run, not runs.', '')

const report = lines.join('\n')
writeResult('http', report, `\n${report}`)
