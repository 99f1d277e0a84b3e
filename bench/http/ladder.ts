/**
 * Where the CPU of one answer goes, rung by rung: raw `Bun.serve`, its floors, bare Elysia,
 * highperf with the stack switched off, with the access log, the full stack, and the Go peer,
 * every server pinned to CPU 0 and wrk to CPU 1, measured in one run, interleaved. A development
 * aid for issue 16 next to bench/peers (the table the README's targets quote), not part of
 * `bun run bench`.
 *
 * Why another script: bench/peers compares whole servers; this one splits highperf's cost above
 * its floor into parts a setting can switch off, so a change can be aimed where the CPU goes.
 * Every rung is a configuration of this tree (no code edits): "stack off" is RATE_LIMIT_RPS=0,
 * ACCESS_LOG=off, COMPRESSION=off (what stays: the front, its route table, request id and the
 * three headers, metrics, tracing's check, the body limit, deadline and breaker bookkeeping).
 * `EXTRA` adds servers from other checkouts (an A/B of a change, or a tree with a stage cut out
 * to price it): `EXTRA='name=/path/to/tree?KEY:value&KEY:value;other=/tmp/b'`, each run like the
 * full-stack rung (its settings, then the listed ones).
 *
 * Figures: CPU time per request of the server's threads (./sched.ts), medians over rounds, and
 * per-round ratios (the machine's speed drifts between rounds: 1.4-1.7x seen here; within a round
 * the servers run back to back, their order rotating). "× Go" is the Go peer's CPU per request
 * over the server's: the req/s ratio two CPU-bound servers show on one core.
 *
 * `EXTRA` also takes a script (`name=bench/http/x.ts?KEY:value`), run with Bun like raw.ts. `RUNGS`
 * keeps only the standard rungs whose name contains one of its comma-separated words ('none': none).
 *
 * Settings: `ENDPOINTS` (comma list of healthz, file4k, user; default healthz,file4k),
 * `BENCH_ROUNDS` (6), `BENCH_DURATION` s per cell (2), `BENCH_CONNECTIONS` (64). Needs wrk,
 * taskset, and Go for the Go rung (skipped without it; see bench/README.md).
 *
 * @example
 * ```sh
 * bun bench/http/ladder.ts
 * ENDPOINTS=healthz BENCH_ROUNDS=8 bun bench/http/ladder.ts
 * mkdir /tmp/cut && git archive HEAD | tar -x -C /tmp/cut && ln -s "$PWD/node_modules" /tmp/cut/
 * # … edit /tmp/cut, then:
 * EXTRA='cut=/tmp/cut' ENDPOINTS=healthz bun bench/http/ladder.ts
 * ```
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { startServer, stop } from '../lib/server.ts'
import { median } from '../lib/stats.ts'
import { wrk } from '../lib/wrk.ts'
import { buildGoStack, prepareFiles } from '../peers/setup.ts'
import { sched, schedDelta } from './sched.ts'

const HERE = resolve(import.meta.dir, '../..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6)
const DURATION = Number(process.env.BENCH_DURATION ?? 2)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const PATHS = { healthz: '/healthz', file4k: '/files/4k.bin', user: '/users/1' } as const
type Endpoint = keyof typeof PATHS
const endpoints = (process.env.ENDPOINTS ?? 'healthz,file4k').split(',').map((e) => {
  if (!(e in PATHS)) throw new Error(`ENDPOINTS: unknown ${e} (${Object.keys(PATHS).join(', ')})`)
  return e as Endpoint
})

const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-ladder-'))
const files = prepareFiles(join(tmp, 'files'))
const limitFarAbove = { RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000' }
const stackOff = { RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', COMPRESSION: 'off', LOG_LEVEL: 'warn' }

/** One server of the ladder: how to start it. */
interface Rung { name: string; cmd: string[]; cwd: string; env: (dir: string) => Record<string, string> }

const raw = (mode: string | undefined): Rung['env'] => (dir) => ({ RAW_FILES: files, RAW_DB: join(dir, 'raw.sqlite'), RAW_ACCESS_LOG: join(dir, 'access.log'), ...(mode ? { RAW_MODE: mode } : {}) })
const highperf = (cwd: string, extra: Record<string, string>): Omit<Rung, 'name'> => ({
  cmd: [process.execPath, 'src/main.ts'],
  cwd,
  env: (dir) => ({ DATA_DIR: join(dir, 'data'), FILES_DIR: files, WORKERS: '1', LOG_LEVEL: 'info', ...limitFarAbove, ACCESS_LOG: join(dir, 'access.log'), ...extra }),
})

const rungs: Rung[] = [
  { name: 'raw Bun.serve', cmd: [process.execPath, join(HERE, 'bench/http/raw.ts')], cwd: HERE, env: raw(undefined) },
  { name: 'floor: raw + headers, client ip, access line', cmd: [process.execPath, join(HERE, 'bench/http/raw.ts')], cwd: HERE, env: raw('full') },
  { name: 'floor + the stack\'s other headers', cmd: [process.execPath, join(HERE, 'bench/http/raw.ts')], cwd: HERE, env: raw('stack') },
  { name: 'bare Elysia', cmd: [process.execPath, join(HERE, 'bench/peers/elysia/server.ts')], cwd: HERE, env: (dir) => ({ DATA_DIR: join(dir, 'data'), FILES_DIR: files }) },
  { name: 'highperf, stack off', ...highperf(HERE, stackOff) },
  { name: 'highperf, stack off + access log', ...highperf(HERE, { ...stackOff, LOG_LEVEL: 'info', ACCESS_LOG: '' }) },
  { name: 'highperf, full stack', ...highperf(HERE, {}) },
]
const FULL = 'highperf, full stack'
for (const spec of (process.env.EXTRA ?? '').split(';').filter(Boolean)) {
  const at = spec.indexOf('=')
  if (at < 1) throw new Error(`EXTRA: expected name=/path/to/tree[?KEY:value&…], got ${spec}`)
  const [tree = '', query = ''] = spec.slice(at + 1).split('?')
  const extra: Record<string, string> = {}
  for (const kv of query.split('&').filter(Boolean)) {
    const colon = kv.indexOf(':')
    extra[kv.slice(0, colon)] = kv.slice(colon + 1)
  }
  const name = spec.slice(0, at)
  // A script (a variant of raw.ts, say) runs with Bun from this tree, with raw.ts's settings.
  if (tree.endsWith('.ts')) rungs.push({ name, cmd: [process.execPath, resolve(tree)], cwd: HERE, env: (dir) => ({ ...raw(undefined)(dir), ...extra }) })
  else rungs.push({ name, ...highperf(resolve(tree), extra) })
}
// RUNGS: keep only the standard rungs whose name contains one of these (comma list; 'none': none).
const keep = process.env.RUNGS?.split(',')
if (keep !== undefined) {
  const standard = new Set(rungs.slice(0, 7))
  for (let i = rungs.length - 1; i >= 0; i--) {
    const r = rungs[i] as Rung
    if (standard.has(r) && !keep.some((k) => r.name.includes(k))) rungs.splice(i, 1)
  }
}
const go = keep !== undefined && !keep.some((k) => 'Go net/http stack'.includes(k)) ? { skip: 'not in RUNGS' } : buildGoStack(join(tmp, 'go-stack'), join(tmp, 'gocache'))
if (typeof go === 'string') rungs.push({ name: 'Go net/http stack', cmd: [go], cwd: tmp, env: (dir) => ({ DATA_DIR: join(dir, 'data'), FILES_DIR: files, ACCESS_LOG: join(dir, 'access.log'), GOMAXPROCS: '1', ...limitFarAbove }) })
else console.log(`Go rung skipped: ${go.skip}`)

interface Cell { rps: number; cpuUs: number }
interface Running { rung: Rung; proc: Subprocess; url: string; cells: Map<Endpoint, Cell[]> }
const running: Running[] = []

console.log(`bench/http/ladder: ${rungs.length} servers, ${endpoints.join(', ')}, -c${CONNECTIONS} ${DURATION}s x ${ROUNDS} rounds, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
try {
  for (const [i, rung] of rungs.entries()) {
    const dir = join(tmp, `s${i}`)
    mkdirSync(join(dir, 'data'), { recursive: true })
    // The access log rung names the file here ('' above: the directory is known only now).
    const env = rung.env(dir)
    if (env.ACCESS_LOG === '') env.ACCESS_LOG = join(dir, 'access.log')
    const s = await startServer({ cmd: rung.cmd, cwd: rung.cwd, cpu: '0', stderr: 'pipe', pollMs: 5, env })
    running.push({ rung, proc: s.proc, url: s.url, cells: new Map() })
    if (endpoints.includes('user')) {
      const r = await fetch(`${s.url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ladder","email":"ladder@example.com"}' })
      // raw.ts holds that user from the start (id 1): 409 there.
      if (r.status !== 201 && r.status !== 409) throw new Error(`${rung.name}: POST /users answered ${r.status}`)
    }
  }
  for (const s of running) for (const e of endpoints) await wrk(`${s.url}${PATHS[e]}`, { seconds: 1, connections: CONNECTIONS, cpu: '1' })
  for (let round = 0; round < ROUNDS; round++) {
    for (const e of endpoints) {
      for (let i = 0; i < running.length; i++) {
        const s = running[(i + round) % running.length] as Running
        const before = sched(s.proc.pid)
        const r = await wrk(`${s.url}${PATHS[e]}`, { seconds: DURATION, connections: CONNECTIONS, cpu: '1' })
        const d = schedDelta(before, sched(s.proc.pid))
        if (r.non2xx > 0) throw new Error(`${s.rung.name} ${e}: ${r.non2xx} non-2xx answers`)
        s.cells.set(e, [...(s.cells.get(e) ?? []), { rps: r.rps, cpuUs: d.cpuNs / 1e3 / r.requests }])
      }
    }
    console.log(`  round ${round + 1}/${ROUNDS} done`)
  }
} finally {
  for (const s of running) await stop(s.proc)
  rmSync(tmp, { recursive: true, force: true })
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a')
const cellsOf = (name: string, e: Endpoint) => running.find((s) => s.rung.name === name)?.cells.get(e)
// Median of per-round ratios a/b of CPU per request: the drift of the machine's speed cancels.
const ratio = (a: Cell[] | undefined, b: Cell[] | undefined) => (a && b ? median(a.map((x, i) => x.cpuUs / (b[i] as Cell).cpuUs)) : Number.NaN)
const lines: string[] = []
for (const e of endpoints) {
  const full = cellsOf(FULL, e)
  const goCells = cellsOf('Go net/http stack', e)
  const floor = cellsOf('floor + the stack\'s other headers', e)
  lines.push('', `GET ${PATHS[e]}`, '', '| server | req/s | CPU µs/req | CPU vs full stack | × Go (Go CPU / this CPU) |', '| --- | ---: | ---: | ---: | ---: |')
  for (const s of running) {
    const c = s.cells.get(e) ?? []
    lines.push(`| ${s.rung.name} | ${f(median(c.map((x) => x.rps)), 0)} | ${f(median(c.map((x) => x.cpuUs)))} | ${f(ratio(c, full), 3)} | ${goCells ? f(ratio(goCells, c), 2) : 'n/a'}${goCells ? '×' : ''} |`)
  }
  if (full && floor) {
    const above = median(full.map((x, i) => x.cpuUs - (floor[i] as Cell).cpuUs))
    lines.push('', `highperf, full stack, above the floor with the stack's headers: ${f(above)} µs per request (median of per-round differences)`)
  }
}
console.log(`\nBun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z, load at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
console.log(lines.join('\n'))
