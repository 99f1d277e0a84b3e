/**
 * bench/peers: highperf against what a user would run instead, doing the same work, in one run.
 *
 * Servers (each started fresh, its own DATA_DIR, the same two files in FILES_DIR):
 * - raw Bun.serve (bench/http/raw.ts): the ceiling; `raw + headers, client ip, access line`
 *   (RAW_MODE=full) is the floor highperf's mandatory work leaves (bench/http explains it);
 * - bare Elysia (./elysia/server.ts): the framework highperf is built on, with no middleware;
 * - highperf, full default stack (from source; rate limit far above the load, access log to a file);
 * - Fastify 5 on Node with its plugins (./fastify/server.mjs), piscina for the CPU route;
 * - Go net/http with real middleware (./go-stack/main.go, seed 004), goroutines for the CPU route.
 *
 * Endpoints: GET /healthz, GET /users/:id (sqlite), POST /users (sqlite insert, a new email per
 * request), GET /files/4k.bin, GET /files/1m.bin, POST /tasks/primes {"n":PRIMES_N} where the
 * server has a CPU path, and two rows of GET /healthz while a second wrk keeps POST /tasks/primes
 * busy:
 * - "GET /healthz, CPU busy": /healthz at saturation (-c64) while -c8 POSTs tasks: its p99 mixes
 *   the event loop's own queueing with the CPU the workers take;
 * - "GET /healthz paced, CPU busy" (issue 16's target: /healthz p99 ≤ 5 ms while every worker runs
 *   CPU tasks): BUSY_CONNECTIONS (16) keep POST /tasks/primes in flight, enough to keep every worker
 *   of every peer busy (highperf 1 worker per process, piscina 1 thread per process, Go 1–2 Ps;
 *   SO_REUSEPORT leaves a process of 2 without any of 16 connections once in 2^15), while
 *   PROBE_CONNECTIONS (4) wrk connections each send /healthz, wait for the answer, then pause
 *   PROBE_PAUSE_MS (10): ~400 probes/s, far from saturating any peer, so their p99 is what a
 *   health check or a light request sees while the CPU tasks run. req/s is the probe's; the notes
 *   give the tasks' req/s alongside (what the priority rules cost the CPU work).
 *
 * Two modes, one run: `1 core` pins every server to CPU 0 and wrk to CPU 1 (highperf WORKERS=1,
 * Fastify THREADS=1, Go on one CPU); `all cores` pins nothing: highperf PROCESSES=2 (when the
 * cluster primary exists: it is detected by counting the processes started), Fastify on
 * node:cluster with 2 processes, Go with GOMAXPROCS=2, raw Bun.serve alone for scale. wrk then
 * shares the cores with the server.
 *
 * Per cell: wrk -t1 -c64 for DURATION s, ROUNDS rounds; within a round the servers of one endpoint
 * run back to back (order rotating), ratios are medians of per-round ratios. CPU time per request:
 * utime + stime of the server's process tree over the run / requests completed. RSS: the tree's
 * VmRSS at the end of the cell's last run.
 *
 * Writes bench/results/peers.md, bench/results/peers-1core.svg and peers-allcores.svg, and copies
 * the charts to bench/peers/charts/ (kept in git, shown by bench/README.md).
 *
 * Needs wrk, taskset, go (apt-get install wrk golang-go and the Go modules in go-stack/main.go),
 * node ≥ 20 with the dev dependencies built (bench/README.md); a missing peer is skipped with a note.
 *
 * @example
 * ```sh
 * bun bench/peers/index.ts                           # ~10 minutes
 * ROUNDS=1 DURATION=1 MODES=1core bun bench/peers/index.ts   # a quick look
 * MODES=1core ENDPOINTS='healthz,POST,4 KB' SERVERS='raw,highperf,Go' bun bench/peers/index.ts  # some cells only
 * # highperf from another checkout (here: main with this branch's files route laid over it):
 * HIGHPERF_TREE=/tmp/mainplus HIGHPERF_LABEL='main 19c4ed2 + perf' bun bench/peers/index.ts
 * # and the commit before a change in the same run: a row 'before: highperf, full stack' (1 core)
 * # or 'before: highperf, full stack, PROCESSES=2' (all cores)
 * HIGHPERF_BASE=/tmp/base MODES=1core bun bench/peers/index.ts
 * HIGHPERF_BASE=/tmp/base MODES=allcores ENDPOINTS='POST /users' SERVERS='raw,highperf' ROUNDS=5 bun bench/peers/index.ts
 * ```
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { cpuSeconds, processTree, rssMb } from '../lib/proc.ts'
import { RESULTS_DIR, writeResult } from '../lib/report.ts'
import { startServer, stop } from '../lib/server.ts'
import { median } from '../lib/stats.ts'
import { luaPost, wrk } from '../lib/wrk.ts'
import { barChart } from './chart.ts'
import { buildGoStack, fastifyReady, prepareFiles, userPostScript } from './setup.ts'

const ROOT = resolve(import.meta.dir, '../..')
const DURATION = Number(process.env.DURATION ?? 2)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const CONNECTIONS = 64
const PRIMES_N = Number(process.env.PRIMES_N ?? 100_000)
const MODES = (process.env.MODES ?? '1core,allcores').split(',')
// Another checkout to run highperf from (e.g. main with this branch's changes laid over it, to
// measure PROCESSES=2 before the two meet), described in the report by HIGHPERF_LABEL.
const HIGHPERF_TREE = process.env.HIGHPERF_TREE ?? ROOT
const HIGHPERF_LABEL = process.env.HIGHPERF_LABEL ?? (HIGHPERF_TREE === ROOT ? 'this tree' : HIGHPERF_TREE)
// A second highperf from another checkout (e.g. a `git archive` of the commit before a change),
// measured in the same run, interleaved with the rest: the before/after of a change on a shared
// machine, where two runs minutes apart differ by more than the change. Both modes.
const HIGHPERF_BASE = process.env.HIGHPERF_BASE
const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-peers-'))
const filesDir = prepareFiles(join(tmp, 'files'))
mkdirSync(RESULTS_DIR, { recursive: true })
const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(' ')
const startedAt = new Date().toISOString().slice(0, 16)

for (const tool of ['wrk', 'taskset']) {
  if (Bun.which(tool) === null) {
    console.error(`bench/peers: ${tool} is missing (apt-get install wrk util-linux)`)
    process.exit(1)
  }
}

type Endpoint = 'GET /healthz' | 'GET /users/:id' | 'POST /users' | 'GET 4 KB file' | 'GET 1 MB file' | 'POST /tasks/primes' | 'GET /healthz, CPU busy' | 'GET /healthz paced, CPU busy'
const ALL_ENDPOINTS: Endpoint[] = ['GET /healthz', 'GET /users/:id', 'POST /users', 'GET 4 KB file', 'GET 1 MB file', 'POST /tasks/primes', 'GET /healthz, CPU busy', 'GET /healthz paced, CPU busy']
// Optional filters for a quicker look: ENDPOINTS and SERVERS are comma lists of substrings of the
// endpoint and server names (e.g. ENDPOINTS='healthz,4 KB' SERVERS='raw,highperf,Go'); a part that
// is a whole endpoint name picks that one only ('GET /healthz' leaves out 'GET /healthz, CPU busy').
const pick = (env: string | undefined) => (name: string) => env === undefined || env.split(',').map((p) => p.trim()).some((part) =>
  (ALL_ENDPOINTS as string[]).includes(part) ? name === part : name.includes(part))
const ENDPOINTS = ALL_ENDPOINTS.filter(pick(process.env.ENDPOINTS))
const serverWanted = pick(process.env.SERVERS)
/** The rows measuring /healthz under CPU load: no raw Bun.serve ratio, no bar in the charts. */
const BUSY: ReadonlySet<Endpoint> = new Set(['GET /healthz, CPU busy', 'GET /healthz paced, CPU busy'])
const BUSY_CONNECTIONS = 16
const PROBE_CONNECTIONS = 4
const PROBE_PAUSE_MS = 10

interface Server {
  name: string
  cmd: string[]
  /** Working directory (default: this repository). */
  cwd?: string
  env: Record<string, string>
  /** Has POST /tasks/primes. */
  cpuPath: boolean
  /** Processes expected in its tree when clustered (checked after start), 0: don't check. */
  expectProcesses?: number
}

const skipped: string[] = []
const goBin = buildGoStack(join(tmp, 'go-stack'), join(tmp, 'gocache'))
if (typeof goBin !== 'string') skipped.push(`Go peer: ${goBin.skip}`)
const fastify = fastifyReady()
if (fastify !== true) skipped.push(`Fastify peer: ${fastify.skip}`)

const common = (dir: string) => ({ DATA_DIR: join(tmp, dir, 'data'), FILES_DIR: filesDir })
const highperfEnv = { LOG_LEVEL: 'info', RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000' }
const peerLimit = { RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000' }

function servers(mode: string): Server[] {
  const one = mode === '1core'
  const raw = [process.execPath, join(ROOT, 'bench/http/raw.ts')]
  const list: Server[] = [
    { name: 'raw Bun.serve', cmd: raw, env: { RAW_FILES: filesDir, RAW_DB: join(tmp, `raw-${mode}.sqlite`) }, cpuPath: false },
  ]
  if (one) {
    list.push(
      { name: 'raw + headers, client ip, access line', cmd: raw, env: { RAW_MODE: 'full', RAW_FILES: filesDir, RAW_DB: join(tmp, 'rawfull.sqlite'), RAW_ACCESS_LOG: join(tmp, 'raw-access.log') }, cpuPath: false },
      // The floor again with every other header the default stack sends (nosniff, RateLimit-*):
      // each costs ~0.7 µs of serving on Bun 1.4.5 (bench/http/raw.ts, RAW_MODE=stack).
      { name: 'raw + the stack\'s headers, client ip, access line', cmd: raw, env: { RAW_MODE: 'stack', RAW_FILES: filesDir, RAW_DB: join(tmp, 'rawstack.sqlite'), RAW_ACCESS_LOG: join(tmp, 'raw-stack-access.log') }, cpuPath: false },
      { name: 'bare Elysia', cmd: [process.execPath, join(import.meta.dir, 'elysia/server.ts')], env: common('elysia'), cpuPath: false },
    )
  }
  list.push({
    name: one ? 'highperf, full stack' : 'highperf, full stack, PROCESSES=2',
    cmd: [process.execPath, 'src/main.ts'],
    cwd: HIGHPERF_TREE,
    env: { ...common(`highperf-${mode}`), ...highperfEnv, ACCESS_LOG: join(tmp, `highperf-${mode}-access.log`), ...(one ? { WORKERS: '1' } : { PROCESSES: '2' }) },
    cpuPath: true,
    expectProcesses: one ? 0 : 3,
  })
  if (HIGHPERF_BASE !== undefined) {
    list.push({
      name: one ? 'before: highperf, full stack' : 'before: highperf, full stack, PROCESSES=2',
      cmd: [process.execPath, 'src/main.ts'],
      cwd: HIGHPERF_BASE,
      env: { ...common(`highperf-base-${mode}`), ...highperfEnv, ACCESS_LOG: join(tmp, `highperf-base-${mode}-access.log`), ...(one ? { WORKERS: '1' } : { PROCESSES: '2' }) },
      cpuPath: true,
      expectProcesses: one ? 0 : 3,
    })
  }
  if (fastify === true) {
    list.push({
      name: one ? 'Fastify 5 (Node)' : 'Fastify 5 (Node), cluster of 2',
      cmd: ['node', join(import.meta.dir, 'fastify/server.mjs')],
      env: { ...common(`fastify-${mode}`), ...peerLimit, ACCESS_LOG: join(tmp, `fastify-${mode}-access.log`), ...(one ? { THREADS: '1' } : { PROCESSES: '2', THREADS: '1' }) },
      cpuPath: true,
    })
  }
  if (typeof goBin === 'string') {
    list.push({
      name: one ? 'Go net/http stack' : 'Go net/http stack, GOMAXPROCS=2',
      cmd: [goBin],
      env: { ...common(`go-${mode}`), ...peerLimit, ACCESS_LOG: join(tmp, `go-${mode}-access.log`), GOMAXPROCS: one ? '1' : '2' },
      cpuPath: true,
    })
  }
  return list.filter((s) => serverWanted(s.name))
}

interface Run {
  rps: number; p50: number; p99: number; requests: number; bad: number; cpuUsPerReq: number; rss: number
  /** req/s of the background POST /tasks/primes load (the busy rows), else NaN. */
  bgRps: number
}
interface Cell { server: string; endpoint: Endpoint; runs: Run[]; note?: string; go: (seconds?: number) => Promise<Run> }

const running = new Set<Subprocess>()
process.on('SIGINT', () => {
  for (const p of running) p.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
  process.exit(130)
})

let scriptN = 0
function script(body: string): string {
  const path = join(tmp, `script-${++scriptN}.lua`)
  writeFileSync(path, body)
  return path
}

async function measureMode(mode: string): Promise<{ cells: Cell[]; list: Server[]; notes: string[]; idle: Map<string, number> }> {
  const one = mode === '1core'
  const serverCpu = one ? '0' : undefined
  const loadCpu = one ? '1' : undefined
  const list = servers(mode)
  const notes: string[] = []
  const cells: Cell[] = []
  const idle = new Map<string, number>()
  const started: Array<{ proc: Subprocess }> = []
  try {
    for (const s of list) {
      // stderr inherited, not piped: a pipe nobody reads would stall a server that writes to it.
      const st = await startServer({ cmd: s.cmd, env: s.env, cwd: s.cwd ?? ROOT, cpu: serverCpu })
      running.add(st.proc)
      started.push(st)
      await Bun.sleep(1000)
      idle.set(s.name, rssMb(processTree(st.proc.pid)))
      if (s.expectProcesses) {
        const n = processTree(st.proc.pid).length
        if (n < s.expectProcesses) notes.push(`${s.name}: ${n} process(es) started, not a cluster (PROCESSES is pending the cluster issue on this tree): its row is one process with its worker threads.`)
      }
      const base = st.url
      const pids = () => processTree(st.proc.pid)
      // One run of wrk with the server's CPU time around it.
      const measure = (url: string, opts: { script?: string; connections?: number; background?: { url: string; script: string; connections: number } } = {}) => async (seconds = DURATION): Promise<Run> => {
        const tree = pids()
        const cpu0 = cpuSeconds(tree)
        const bg = opts.background
          ? wrk(opts.background.url, { seconds: seconds + 1, connections: opts.background.connections, script: opts.background.script, cpu: loadCpu })
          : undefined
        if (bg) await Bun.sleep(500)
        const r = await wrk(url, { seconds, connections: opts.connections ?? CONNECTIONS, latency: true, cpu: loadCpu, script: opts.script })
        const cpu = cpuSeconds(pids()) - cpu0
        const bgr = bg ? await bg : undefined
        if (Number.isNaN(r.rps)) throw new Error(`${s.name} ${url}: wrk output not understood:\n${r.output}`)
        const requests = r.requests + (bgr?.requests ?? 0)
        return { rps: r.rps, p50: r.p50, p99: r.p99, requests: r.requests, bad: r.non2xx + r.socketErrors, cpuUsPerReq: (cpu / requests) * 1e6, rss: rssMb(pids()), bgRps: bgr?.rps ?? Number.NaN }
      }
      // Seed one user and check each URL answers 2xx before it is measured.
      const created = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Bench User', email: 'bench@example.com' }) })
      const location = created.headers.get('location') ?? '/users/1'
      await created.arrayBuffer()
      const primes = script(luaPost(JSON.stringify({ n: PRIMES_N })))
      const paced = script(`function delay() return ${PROBE_PAUSE_MS} end\n`)
      const add = (endpoint: Endpoint, url: string, check: RequestInit | null, go: () => Promise<Run>) => {
        if (!ENDPOINTS.includes(endpoint)) return Promise.resolve()
        cells.push({ server: s.name, endpoint, runs: [], go })
        return check === null ? Promise.resolve() : fetch(url, check).then(async (res) => {
          await res.arrayBuffer()
          if (res.status >= 300) {
            const cell = cells[cells.length - 1] as Cell
            cell.note = `answers ${res.status}`
            cells.pop()
            notes.push(`${s.name} ${endpoint}: answers ${res.status}, not measured`)
          }
        })
      }
      await add('GET /healthz', `${base}/healthz`, {}, measure(`${base}/healthz`))
      await add('GET /users/:id', `${base}${location}`, {}, measure(`${base}${location}`))
      const postTag = s.name.replace(/\W+/g, '')
      let postRun = 0
      if (ENDPOINTS.includes('POST /users')) cells.push({ server: s.name, endpoint: 'POST /users', runs: [], go: (seconds) => measure(`${base}/users`, { script: script(userPostScript(`${postTag}${++postRun}`)) })(seconds) })
      await add('GET 4 KB file', `${base}/files/4k.bin`, {}, measure(`${base}/files/4k.bin`))
      await add('GET 1 MB file', `${base}/files/1m.bin`, {}, measure(`${base}/files/1m.bin`))
      if (s.cpuPath) {
        const check = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: PRIMES_N }) }
        await add('POST /tasks/primes', `${base}/tasks/primes`, check, measure(`${base}/tasks/primes`, { script: primes }))
        await add('GET /healthz, CPU busy', `${base}/healthz`, null, measure(`${base}/healthz`, { background: { url: `${base}/tasks/primes`, script: primes, connections: 8 } }))
        await add('GET /healthz paced, CPU busy', `${base}/healthz`, null, measure(`${base}/healthz`, { script: paced, connections: PROBE_CONNECTIONS, background: { url: `${base}/tasks/primes`, script: primes, connections: BUSY_CONNECTIONS } }))
      }
    }
    console.log(`bench/peers ${mode}: ${list.length} servers, ${cells.length} cells, ${ROUNDS} rounds of ${DURATION} s`)
    for (const c of cells) await c.go(1) // warm-up: JIT, caches, the sqlite pages
    for (let round = 0; round < ROUNDS; round++) {
      for (const endpoint of ENDPOINTS) {
        const group = cells.filter((c) => c.endpoint === endpoint)
        for (let i = 0; i < group.length; i++) {
          const c = group[(i + round) % group.length] as Cell
          const r = await c.go()
          c.runs.push(r)
          console.log(`  ${mode} round ${round + 1}: ${c.server.padEnd(38)} ${endpoint.padEnd(22)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99.toFixed(2)} ms  ${r.cpuUsPerReq.toFixed(1)} µs CPU/req${r.bad ? `  BAD ${r.bad}` : ''}`)
        }
      }
    }
  } finally {
    for (const st of started) {
      await stop(st.proc)
      running.delete(st.proc)
    }
  }
  return { cells, list, notes, idle }
}

// --- the report ---------------------------------------------------------------------------------
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a')
const med = (c: Cell, k: keyof Run) => (c.runs.length ? median(c.runs.map((r) => r[k])) : Number.NaN)
const paired = (a: Cell | undefined, b: Cell | undefined) =>
  a && b && a.runs.length > 0 && a.runs.length === b.runs.length ? median(a.runs.map((r, i) => r.rps / (b.runs[i] as Run).rps)) : Number.NaN

const sections: string[] = []
const targets: string[] = []
const svgs: string[] = []
for (const mode of MODES) {
  const { cells, list, notes, idle } = await measureMode(mode)
  const find = (server: string | undefined, endpoint: Endpoint) => cells.find((c) => c.server === server && c.endpoint === endpoint)
  const rawName = list[0]?.name
  const goName = list.find((s) => s.name.startsWith('Go'))?.name
  const hpName = list.find((s) => s.name.startsWith('highperf'))?.name
  const lines = [`### ${mode === '1core' ? '1 core: every server pinned to CPU 0, wrk to CPU 1' : 'All cores: nothing pinned (wrk shares the 2 cores)'}`, '']
  lines.push('| endpoint | server | req/s | p50 ms | p99 ms | CPU µs/req | RSS MB | vs raw Bun.serve | vs Go stack | notes |')
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
  const bars: Array<{ group: string; label: string; value: number; text: string }> = []
  for (const endpoint of ENDPOINTS) {
    const raw = find(rawName, endpoint) ?? find(rawName, 'GET /healthz')
    for (const s of list) {
      const c = find(s.name, endpoint)
      if (!c) continue
      const bad = c.runs.reduce((a, r) => a + r.bad, 0)
      const vsRaw = BUSY.has(endpoint) || endpoint === 'POST /tasks/primes' ? Number.NaN : paired(c, raw)
      // The paced probe's req/s is set by its pauses: a ratio of it would only restate the latency.
      const vsGo = endpoint === 'GET /healthz paced, CPU busy' ? Number.NaN : paired(c, find(goName, endpoint))
      lines.push(`| ${endpoint} | ${s.name} | ${fmt(med(c, 'rps'))} | ${fmt(med(c, 'p50'), 2)} | ${fmt(med(c, 'p99'), 2)} | ${fmt(med(c, 'cpuUsPerReq'), 1)} | ${fmt(med(c, 'rss'), 1)} | ${Number.isFinite(vsRaw) ? `${fmt(100 * vsRaw, 1)} %` : '–'} | ${Number.isFinite(vsGo) ? `${fmt(vsGo, 2)}×` : '–'} | ${[c.note, bad ? `${bad} errors/non-2xx` : '', BUSY.has(endpoint) ? `POST /tasks/primes ${fmt(med(c, 'bgRps'))} req/s alongside` : ''].filter(Boolean).join('; ')} |`)
      if (!BUSY.has(endpoint)) bars.push({ group: endpoint, label: s.name, value: med(c, 'rps'), text: fmt(med(c, 'rps')) })
    }
  }
  lines.push('')
  lines.push(`Idle RSS 1 s after the first 200 (MB, the whole process tree): ${list.map((s) => `${s.name} ${fmt(idle.get(s.name) ?? Number.NaN, 1)}`).join('; ')}.`, '')
  for (const n of notes) lines.push(`- ${n}`)
  if (notes.length) lines.push('')
  const svgName = `peers-${mode}.svg`
  const svg = barChart(bars, { title: `bench/peers, ${mode === '1core' ? '1 core' : 'all cores'}: req/s (median of ${ROUNDS} rounds), ${startedAt}Z`, series: list.map((s) => s.name) })
  writeFileSync(join(RESULTS_DIR, svgName), svg)
  svgs.push(svgName)
  lines.push(`![req/s per endpoint and server, ${mode}](peers/charts/${svgName})`, '')
  sections.push(lines.join('\n'))

  if (hpName) {
    const rat = (endpoint: Endpoint, other: string | undefined) => paired(find(hpName, endpoint), find(other, endpoint))
    const floorName = list.find((s) => s.name.startsWith('raw + headers'))?.name
    const stackFloorName = list.find((s) => s.name.startsWith('raw + the stack'))?.name
    const pct = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? `${fmt(100 * x, 1)} %` : '–')
    const floorOf = (name: string | undefined, endpoint: Endpoint) => (name ? paired(find(name, endpoint), find(rawName, endpoint)) : undefined)
    const row = (t: string, v: number, ok: (x: number) => boolean, unit: '%' | '×', endpoint?: Endpoint) =>
      targets.push(`| ${mode} | ${t} | ${Number.isFinite(v) ? (unit === '%' ? pct(v) : `${fmt(v, 2)}×`) : 'n/a'} | ${endpoint ? pct(floorOf(floorName, endpoint)) : '–'} | ${endpoint ? pct(floorOf(stackFloorName, endpoint)) : '–'} | ${Number.isFinite(v) ? (ok(v) ? 'met' : '**missed**') : 'not measured'} |`)
    row('4 KB file ≥ 0.8 of raw Bun.serve `Bun.file`', rat('GET 4 KB file', rawName), (x) => x >= 0.8, '%', 'GET 4 KB file')
    row('POST /users ≥ 0.7 of raw Bun.serve, same sqlite insert', rat('POST /users', rawName), (x) => x >= 0.7, '%', 'POST /users')
    row('/healthz ≥ 0.7 of raw Bun.serve', rat('GET /healthz', rawName), (x) => x >= 0.7, '%', 'GET /healthz')
    row('/healthz ≥ 1.2× the Go stack', rat('GET /healthz', goName), (x) => x >= 1.2, '×')
    const busy = find(hpName, 'GET /healthz paced, CPU busy')
    const p99 = busy ? med(busy, 'p99') : Number.NaN
    targets.push(`| ${mode} | /healthz p99 ≤ 5 ms while every worker runs CPU tasks (paced probe) | ${fmt(p99, 2)} ms | – | – | ${Number.isFinite(p99) ? (p99 <= 5 ? 'met' : '**missed**') : 'not measured'} |`)
    const saturated = find(hpName, 'GET /healthz, CPU busy')
    const satP99 = saturated ? med(saturated, 'p99') : Number.NaN
    targets.push(`| ${mode} | (for reference, no target) /healthz p99 with the event loop saturated too (-c${CONNECTIONS}) while the workers run CPU tasks | ${fmt(satP99, 2)} ms | – | – | – |`)
  }
}

const cpu = (await Bun.file('/proc/cpuinfo').text()).match(/model name\s*:\s*(.+)/)?.[1] ?? 'unknown CPU'
const nodeV = Bun.spawnSync(['node', '--version']).stdout.toString().trim() || 'n/a'
const goV = Bun.which('go') ? Bun.spawnSync(['go', 'version']).stdout.toString().trim().split(' ')[2] : 'n/a'
const md = [
  '## Peers at parity (bench/peers)',
  '',
  `Command: \`bun bench/peers/index.ts\` (part of \`bun run bench\`). wrk \`-t1 -c${CONNECTIONS} -d${DURATION}s --latency\`, ${ROUNDS} rounds, medians; ratios are medians of per-round ratios. ${cpu}, ${cpus().length} cores, Bun ${Bun.version}, Node ${nodeV}, Go ${goV}. Started ${startedAt}Z; load average ${loadAtStart} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end. highperf runs from source (${HIGHPERF_LABEL}). POST /tasks/primes: n = ${PRIMES_N.toLocaleString('en-US')}. "GET /healthz, CPU busy": a second wrk (-c8) keeps POST /tasks/primes running meanwhile; its CPU per request counts both loads' requests. "GET /healthz paced, CPU busy": wrk -c${BUSY_CONNECTIONS} keeps POST /tasks/primes running (every worker of every peer busy) while wrk -c${PROBE_CONNECTIONS} sends /healthz, each connection pausing ${PROBE_PAUSE_MS} ms after each answer (not saturating); req/s and latencies are the probe's.`,
  '',
  ...skipped.map((s) => `- skipped: ${s}`),
  ...(skipped.length ? [''] : []),
  ...sections,
  '| mode | target (issue 16) | highperf | floor (raw + headers, client ip, access line) | floor with the stack\'s other headers | verdict |',
  '| --- | --- | ---: | ---: | ---: | --- |',
  ...targets,
  '',
].join('\n')
writeResult('peers', md)
const chartDir = join(import.meta.dir, 'charts')
mkdirSync(chartDir, { recursive: true })
for (const name of svgs) copyFileSync(join(RESULTS_DIR, name), join(chartDir, name))
rmSync(tmp, { recursive: true, force: true })
