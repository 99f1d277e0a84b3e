/**
 * bench/cluster: one host, every core. highperf with PROCESSES=1 against PROCESSES=2 (and the Go
 * peer, which uses both cores through GOMAXPROCS), same load generator settings, nothing pinned:
 *
 * - throughput of GET /healthz, GET /users/:id (a bun:sqlite read) and POST /tasks/primes (small n,
 *   a round trip through the worker pool), wrk -t2 -c64, rounds interleaved (the order of the
 *   servers rotates every round), medians; the ratio 2 processes / 1 process is the median of the
 *   per-round ratios; /healthz and /users/:id also with 16 requests pipelined per write
 *   (PIPELINE=N), where the load generator's and the kernel's share per request is small enough
 *   for a second server process to show on 2 cores;
 * - CPU time per request: utime + stime of every server process (the primary and its children,
 *   threads included, from /proc/<pid>/stat) over the run, divided by the requests wrk completed.
 *   On 2 cores shared with wrk, req/s cannot double (wrk itself needs a core); CPU per request says
 *   whether a second process costs more work per request;
 * - jobs completed per second end to end (bench/jobs' method: POST /jobs with wrk, then the span
 *   from the first job created to the last finished, read from jobs.sqlite);
 * - idle RSS: of the single process, and of the primary and each child with PROCESSES=2.
 *
 * Needs `wrk` (apt-get install wrk); the Go row needs `go` (apt-get install golang-go) and is left
 * out without it.
 *
 * @example
 * ```sh
 * bun bench/cluster/index.ts                      # ~3 min, writes bench/results/cluster.md
 * ROUNDS=1 ROUND_S=2 bun bench/cluster/index.ts   # quick look
 * ```
 */
import { Database } from 'bun:sqlite'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeResult } from '../lib/report.ts'
import { freePort, startServer, stop, waitHealthy, type Started } from '../lib/server.ts'
import { median } from '../lib/stats.ts'
import { luaPipeline, luaPost, wrk } from '../lib/wrk.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const ROUND_S = Number(process.env.ROUND_S ?? 3)
const CONNECTIONS = 64
const THREADS = 2
/** Requests per write in the pipelined rows (bench/lib/wrk.ts luaPipeline says why). */
const DEPTH = Number(process.env.PIPELINE ?? 16)
const CLK_TCK = 100

const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')
const fk = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a')

interface Target {
  label: string
  start(dir: string): Promise<Started>
  /** Paths it serves (the Go peer has no task pool route). */
  serves: (path: string) => boolean
}

function highperf(processes: number): Target {
  return {
    label: `highperf PROCESSES=${processes}`,
    serves: () => true,
    start: (dir) => startServer({
      cmd: [process.execPath, 'src/main.ts'],
      env: {
        PROCESSES: String(processes), RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'warn', REQUEST_TIMEOUT: '10s',
        DATA_DIR: join(dir, `data-p${processes}`), JOB_QUEUE_LIMIT: '10000000',
      },
    }),
  }
}

/** Raw Bun.serve in `processes` reusePort processes: the floor (bench/cluster/raw.ts). */
function rawFloor(processes: number): Target {
  return {
    label: `raw Bun.serve × ${processes} (reusePort)`,
    serves: (path) => !path.startsWith('/tasks'),
    start: () => startServer({ cmd: [process.execPath, join(import.meta.dir, 'raw.ts')], env: { RAW_PROCESSES: String(processes) } }),
  }
}

function goPeer(bin: string): Target {
  return {
    label: 'Go net/http (bench/peers/go, GOMAXPROCS=2)',
    serves: (path) => !path.startsWith('/tasks'),
    start: async () => {
      const port = freePort()
      const proc = Bun.spawn([bin], { env: { PORT: String(port) }, stdout: 'ignore', stderr: 'inherit' })
      const url = `http://127.0.0.1:${port}`
      await waitHealthy(url, proc)
      return { proc, port, url, firstOkMs: 0 }
    },
  }
}

/** The pid and every descendant's pid (the primary's children). */
function processTree(pid: number): number[] {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!
    let tids: string[] = []
    try { tids = readdirSync(`/proc/${p}/task`) } catch { continue }
    for (const tid of tids) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c))
      } catch { /* gone */ }
    }
  }
  return out
}

/** utime + stime of one process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return 0
  }
}

function rssMiB(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

interface Cell { rps: number[]; cpuUs: number[]; p99: number[] }

async function buildGo(dir: string): Promise<string | undefined> {
  if (Bun.spawnSync(['which', 'go']).exitCode !== 0) return undefined
  const bin = join(dir, 'go-peer')
  const b = Bun.spawnSync(['go', 'build', '-o', bin, '.'], { cwd: join(import.meta.dir, '../peers/go'), env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: join(dir, 'gocache') }, stderr: 'pipe' })
  return b.exitCode === 0 ? bin : undefined
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-cluster-'))
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  const started = new Date().toISOString()
  try {
    const userLua = join(dir, 'user.lua')
    writeFileSync(userLua, luaPost('{"name":"Bench User","email":"bench@example.com"}'))
    const primesLua = join(dir, 'primes.lua')
    writeFileSync(primesLua, luaPost('{"n":2000}'))
    const pipeLua = join(dir, 'pipeline.lua')
    writeFileSync(pipeLua, luaPipeline(DEPTH))
    const jobsLua = join(dir, 'jobs.lua')
    writeFileSync(jobsLua, luaPost('{"task":"echo","input":{"v":1}}'))
    const goBin = await buildGo(dir)
    const targets: Target[] = [highperf(1), highperf(2), rawFloor(1), rawFloor(2)]
    if (goBin) targets.push(goPeer(goBin))

    const endpoints: Array<{ name: string; path: string; script?: string }> = [
      { name: 'GET /healthz', path: '/healthz' },
      { name: `GET /healthz, ${DEPTH} pipelined`, path: '/healthz', script: pipeLua },
      { name: 'GET /users/:id', path: '/users/1' },
      { name: `GET /users/:id, ${DEPTH} pipelined`, path: '/users/1', script: pipeLua },
      { name: 'POST /tasks/primes (n=2000)', path: '/tasks/primes', script: primesLua },
    ]
    const cells = new Map<string, Cell>()
    const cell = (t: string, e: string): Cell => {
      const k = `${t}|${e}`
      let c = cells.get(k)
      if (!c) cells.set(k, (c = { rps: [], cpuUs: [], p99: [] }))
      return c
    }
    const idle = new Map<string, number[]>()
    const jobs = new Map<string, number[]>()

    // One server of each kind runs for the whole benchmark (start-up is not what is measured);
    // rounds rotate the order so no server always runs first on a cooler machine.
    const running: Array<{ t: Target; s: Started }> = []
    for (const t of targets) {
      const srv = await t.start(dir)
      running.push({ t, s: srv })
      if (t.label.startsWith('highperf')) {
        const res = await fetch(`${srv.url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Bench User","email":"bench@example.com"}' })
        if (res.status !== 201 && res.status !== 409) throw new Error(`${t.label}: POST /users answered ${res.status}`)
      }
      await Bun.sleep(2000)
      idle.set(t.label, processTree(srv.proc.pid).map(rssMiB))
    }
    try {
      for (let r = 0; r < ROUNDS; r++) {
        const order = running.map((_, i) => running[(i + r) % running.length]!)
        for (const e of endpoints) {
          for (const { t, s } of order) {
            if (!t.serves(e.path)) continue
            const pids = processTree(s.proc.pid)
            const cpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0)
            const w = await wrk(`${s.url}${e.path}`, { seconds: ROUND_S, connections: CONNECTIONS, threads: THREADS, latency: true, ...(e.script ? { script: e.script } : {}) })
            const cpu1 = processTree(s.proc.pid).reduce((a, p) => a + cpuSeconds(p), 0)
            const c = cell(t.label, e.name)
            c.rps.push(w.non2xx > 0 || w.socketErrors > 0 ? NaN : w.rps)
            c.p99.push(w.p99)
            c.cpuUs.push(((cpu1 - cpu0) / Math.max(1, w.requests)) * 1e6)
            console.error(`round ${r + 1} ${e.name} ${t.label}: ${fk(w.rps)} req/s, p99 ${f(w.p99, 2)} ms, ${f(((cpu1 - cpu0) / Math.max(1, w.requests)) * 1e6)} µs CPU/req${w.non2xx ? `, ${w.non2xx} non-2xx` : ''}`)
          }
        }
        // Jobs: accepted for ROUND_S, then completed end to end.
        for (const { t, s } of order) {
          if (!t.label.startsWith('highperf')) continue
          const from = Date.now()
          const w = await wrk(`${s.url}/jobs`, { seconds: ROUND_S, connections: CONNECTIONS, threads: THREADS, script: jobsLua })
          if (w.non2xx > 0 || w.socketErrors > 0) console.error(`round ${r + 1} jobs ${t.label}: ${w.non2xx} non-2xx, ${w.socketErrors} socket errors of ${w.requests}`)
          const dbPath = join(dir, `data-p${t.label.endsWith('=1') ? 1 : 2}`, 'jobs.sqlite')
          const rate = await completedRate(dbPath, from)
          const list = jobs.get(t.label) ?? []
          list.push(rate)
          jobs.set(t.label, list)
          console.error(`round ${r + 1} jobs ${t.label}: ${fk(rate)} completed/s`)
        }
      }
    } finally {
      for (const { s } of running) await stop(s.proc)
    }

    const one = targets[0]!.label
    const two = targets[1]!.label
    const rows: string[] = [
      '| endpoint | server | req/s | p99 ms | CPU µs / request | vs highperf PROCESSES=1 |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
    ]
    for (const e of endpoints) {
      const base = cell(one, e.name)
      for (const t of targets) {
        if (!t.serves(e.path)) continue
        const c = cell(t.label, e.name)
        const ratios = c.rps.map((x, i) => x / (base.rps[i] ?? NaN))
        rows.push(`| ${e.name} | ${t.label} | ${fk(median(c.rps))} | ${f(median(c.p99), 2)} | ${f(median(c.cpuUs))} | ${f(median(ratios), 2)}× |`)
      }
    }
    const floorRatio = (e: string) => {
      const a = cell(targets[2]!.label, e).rps
      const b = cell(targets[3]!.label, e).rps
      return median(b.map((x, i) => x / (a[i] ?? NaN)))
    }
    const ownRatio = (e: string) => {
      const a = cell(one, e).rps
      const b = cell(two, e).rps
      return median(b.map((x, i) => x / (a[i] ?? NaN)))
    }
    const scaling = endpoints.filter((e) => !e.path.startsWith('/tasks')).map((e) => `${e.name}: highperf ${f(ownRatio(e.name), 2)}×, raw Bun.serve ${f(floorRatio(e.name), 2)}×`).join('; ')
    const jobRatio = (jobs.get(two) ?? []).map((x, i) => x / (jobs.get(one)?.[i] ?? NaN))
    const idleRows = targets.map((t) => {
      const rss = idle.get(t.label) ?? []
      return `| ${t.label} | ${rss.map((x) => f(x)).join(' + ')} | ${f(rss.reduce((a, b) => a + b, 0))} |`
    })
    const md = [
      '## One host, every core (bench/cluster)',
      '',
      `Command: \`bun bench/cluster/index.ts\` (part of \`bun run bench\`). wrk \`-t${THREADS} -c${CONNECTIONS} -d${ROUND_S}s --latency\`, ${ROUNDS} rounds, server order rotated every round, medians (ratios: medians of per-round ratios); the pipelined rows send ${DEPTH} requests per write on each connection (\`bench/lib/wrk.ts\` luaPipeline); nothing pinned: the servers and wrk share the machine's ${navigator.hardwareConcurrency} cores. highperf from source, WORKERS=auto (CPUs ÷ PROCESSES), rate limit and access log off. ${started}, load average ${load0} at start.`,
      '',
      ...rows,
      '',
      `2 processes / 1 process (medians of per-round ratios): ${scaling}. The raw rows are the floor: what a second process gives on this machine when the load generator shares its cores, before any of highperf's work.`,
      '',
      `Jobs completed per second end to end (POST /jobs of an echo task for ${ROUND_S} s, first created to last finished): ${targets.slice(0, 2).map((t) => `${t.label} ${fk(median(jobs.get(t.label) ?? []))}/s`).join(', ')}; ratio ${f(median(jobRatio), 2)}×.`,
      '',
      '| idle RSS (MiB), 2 s after start | processes (primary first) | total |',
      '| --- | --- | ---: |',
      ...idleRows,
      '',
    ].join('\n')
    writeResult('cluster', md)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Completed/s of the jobs created since `from`, once none is queued or running. */
async function completedRate(dbPath: string, from: number): Promise<number> {
  if (!existsSync(dbPath)) return NaN
  const until = Date.now() + 120_000
  for (;;) {
    const db = new Database(dbPath, { readonly: true })
    try {
      const left = db.query<{ n: number }, []>("SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running')").get()?.n ?? 0
      if (left === 0) {
        const span = db.query<{ n: number; first: number; last: number }, [number]>(
          "SELECT count(*) AS n, min(created_at) AS first, max(finished_at) AS last FROM jobs WHERE state = 'succeeded' AND created_at >= ?1",
        ).get(from)
        return span && span.n > 0 ? span.n / ((span.last - span.first) / 1000) : NaN
      }
    } finally {
      db.close()
    }
    if (Date.now() > until) return NaN
    await Bun.sleep(100)
  }
}

await main()
