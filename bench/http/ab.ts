/**
 * A/B of a change on the HTTP path: highperf from another checkout (BASE, e.g. an unpacked
 * `git archive` of the last commit) against this tree, over real sockets with wrk, in one run.
 * A development aid next to bench/http/index.ts (the figures the README quotes), not part of
 * `bun run bench`.
 *
 * Why a separate script: a refactor of the front must show its throughput is within noise of
 * before, and two runs of bench/http minutes apart differ by more than that on a shared machine.
 * Here the servers of one endpoint run back to back, the order rotating by round, and the verdict
 * is the median of per-round ratios, so load drift cancels (the method of bench/http/index.ts).
 *
 * Besides req/s it reports, per request, the CPU time of the server's threads and the time its
 * event loop was off the CPU without waiting for one (./sched.ts: an fsync, a lock), and the req/s
 * those two imply for a server with a CPU of its own ("est."): on a machine shared with other
 * work, req/s mostly measures the neighbours, these three much less.
 *
 * Both trees run from source with the same settings as bench/http's highperf rows: "stack off"
 * (RATE_LIMIT_RPS=0, ACCESS_LOG=off) and "full stack" (rate limit far above the load, access log
 * to a file, LOG_LEVEL=info). Each server is pinned to CPU 0 and wrk to CPU 1. `RAW=1` adds raw
 * `Bun.serve`, its floor (bench/http/raw.ts, `RAW_MODE=full`) and the floor with every header the
 * default stack sends (`RAW_MODE=stack`) as three more servers, for the ratios bench/peers reports.
 *
 * Settings: `BENCH_ROUNDS` (8), `BENCH_DURATION` s per cell (2), `BENCH_CONNECTIONS` (64),
 * `ENDPOINTS` (comma list of healthz, user, post, file4k, file1m; default healthz,user), `STACKS`
 * (`full`, `off` or both: `full,off`, the default).
 *
 * @example
 * ```sh
 * mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 * BASE=/tmp/base bun bench/http/ab.ts            # 8 rounds of 2 s per cell
 * BASE=/tmp/base ENDPOINTS=post,file4k STACKS=full RAW=1 BENCH_ROUNDS=12 bun bench/http/ab.ts
 * ```
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { startServer, stop } from '../lib/server.ts'
import { median } from '../lib/stats.ts'
import { wrk } from '../lib/wrk.ts'
import { prepareFiles, userPostScript } from '../peers/setup.ts'
import { sched, schedDelta } from './sched.ts'

const BASE = process.env.BASE
if (!BASE) throw new Error('set BASE to the root of the checkout to compare with (see the file comment)')
const HERE = resolve(import.meta.dir, '../..')
const DURATION = Number(process.env.BENCH_DURATION ?? 2)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const WITH_RAW = process.env.RAW === '1'
const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-ab-'))
const files = prepareFiles(join(tmp, 'files'))

const ENDPOINTS = {
  healthz: 'GET /healthz',
  user: 'GET /users/:id',
  post: 'POST /users',
  file4k: 'GET 4 KB file',
  file1m: 'GET 1 MB file',
} as const
type EndpointKey = keyof typeof ENDPOINTS
const endpoints = (process.env.ENDPOINTS ?? 'healthz,user').split(',').map((e) => {
  if (!(e in ENDPOINTS)) throw new Error(`ENDPOINTS: unknown ${e} (${Object.keys(ENDPOINTS).join(', ')})`)
  return e as EndpointKey
})

const ALL_STACKS: Record<string, Record<string, string>> = {
  'stack off': { RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'warn' },
  'full stack': { LOG_LEVEL: 'info', RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000' },
}
const stackNames = (process.env.STACKS ?? 'full,off').split(',').map((s) => (s === 'off' ? 'stack off' : 'full stack'))
const SIDES = { base: resolve(BASE), current: HERE } as const
type Side = keyof typeof SIDES | 'raw' | 'raw full' | 'raw stack'

interface Server { side: Side; stack: string; proc: Subprocess; base: string; location: string; posts: number }
const servers: Server[] = []
interface Cell { rps: number; cpuUs: number; offUs: number; est: number; bad: number }
const cells = new Map<string, Cell[]>()
const key = (side: Side, stack: string, endpoint: EndpointKey) => `${side}|${stack}|${endpoint}`

console.log(`bench/http/ab: base ${SIDES.base} vs current ${SIDES.current}, -c${CONNECTIONS} ${DURATION}s x ${ROUNDS} rounds, ${endpoints.join(', ')}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)

async function start(side: Side, stack: string, cwd: string, cmd: string[], env: Record<string, string>): Promise<void> {
  const s = await startServer({ cmd, cwd, cpu: '0', stderr: 'pipe', pollMs: 5, env })
  // Stopped by the caller's `finally` even if the checks below fail.
  const server: Server = { side, stack, proc: s.proc, base: s.url, location: '', posts: 0 }
  servers.push(server)
  const created = await fetch(`${s.url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Bench User","email":"bench@example.com"}' })
  // raw.ts holds that user from the start (id 1): 409.
  const location = created.status === 409 && side.startsWith('raw') ? '/users/1' : created.headers.get('location')
  if ((created.status !== 201 && location !== '/users/1') || location === null) throw new Error(`${side} ${stack}: POST /users answered ${created.status}`)
  server.location = location
}

async function measure(s: Server, endpoint: EndpointKey, seconds: number): Promise<Cell> {
  let url = `${s.base}${endpoint === 'user' ? s.location : endpoint === 'healthz' ? '/healthz' : endpoint === 'post' ? '/users' : endpoint === 'file4k' ? '/files/4k.bin' : '/files/1m.bin'}`
  let script: string | undefined
  if (endpoint === 'post') {
    script = join(tmp, `post-${servers.indexOf(s)}-${++s.posts}.lua`)
    writeFileSync(script, userPostScript(`${servers.indexOf(s)}r${s.posts}`))
    url = `${s.base}/users`
  }
  const before = sched(s.proc.pid)
  const r = await wrk(url, { seconds, connections: CONNECTIONS, cpu: '1', script })
  const d = schedDelta(before, sched(s.proc.pid))
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
    // Something else on the machine may end it (a neighbour's broad kill): its cells would be junk.
    throw new Error(`${s.side} ${s.stack}: the server ended (${s.proc.signalCode ?? `exit ${s.proc.exitCode}`}) during ${endpoint}`)
  }
  // A non-2xx answer is a broken setup; a socket error (wrk's 2 s timeout on a starved machine) is
  // counted and reported.
  if (r.non2xx > 0) throw new Error(`${s.side} ${s.stack} ${endpoint}: ${r.non2xx} non-2xx`)
  return { rps: r.rps, cpuUs: d.cpuNs / 1e3 / r.requests, offUs: d.offNs / 1e3 / r.requests, est: r.requests / ((d.cpuNs + d.offNs) / 1e9), bad: r.socketErrors }
}

try {
  for (const stack of stackNames) {
    const env = ALL_STACKS[stack] as Record<string, string>
    for (const side of Object.keys(SIDES) as Array<keyof typeof SIDES>) {
      const dir = join(tmp, `${side}-${stack.replace(' ', '-')}`)
      await start(side, stack, SIDES[side], [process.execPath, 'src/main.ts'], {
        DATA_DIR: join(dir, 'data'), FILES_DIR: files, WORKERS: '1', ...env, ...(env.ACCESS_LOG === undefined ? { ACCESS_LOG: join(dir, 'access.log') } : {}),
      })
    }
  }
  if (WITH_RAW) {
    const raw = [process.execPath, join(HERE, 'bench/http/raw.ts')]
    await start('raw', 'raw', HERE, raw, { RAW_FILES: files, RAW_DB: join(tmp, 'raw.sqlite') })
    await start('raw full', 'raw', HERE, raw, { RAW_MODE: 'full', RAW_FILES: files, RAW_DB: join(tmp, 'rawfull.sqlite'), RAW_ACCESS_LOG: join(tmp, 'raw-access.log') })
    await start('raw stack', 'raw', HERE, raw, { RAW_MODE: 'stack', RAW_FILES: files, RAW_DB: join(tmp, 'rawstack.sqlite'), RAW_ACCESS_LOG: join(tmp, 'raw-stack-access.log') })
  }
  for (const s of servers) for (const e of endpoints) await measure(s, e, 1) // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const endpoint of endpoints) {
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(i + round) % servers.length] as Server
        const k = key(s.side, s.stack, endpoint)
        cells.set(k, [...(cells.get(k) ?? []), await measure(s, endpoint, DURATION)])
      }
    }
    console.log(`  round ${round + 1}/${ROUNDS} done`)
  }
} finally {
  for (const s of servers) await stop(s.proc)
  rmSync(tmp, { recursive: true, force: true })
}

const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a')
const pairRatio = (a: Cell[], b: Cell[], k: keyof Cell) => median(a.map((x, i) => x[k] / (b[i] as Cell)[k]))
const lines = [
  '| stack | endpoint | server | req/s | CPU µs/req | off-CPU µs/req | est. req/s | current/base req/s | current/base CPU | current/base est. | est. vs raw | CPU vs raw | socket errors |',
  '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
]
for (const endpoint of endpoints) {
  const raw = cells.get(key('raw', 'raw', endpoint))
  const rows: Array<[Side, string]> = [
    ...stackNames.flatMap((stack) => (['base', 'current'] as const).map((side): [Side, string] => [side, stack])),
    ...(WITH_RAW ? (['raw', 'raw full', 'raw stack'] as const).map((side): [Side, string] => [side, 'raw']) : []),
  ]
  for (const [side, stack] of rows) {
    const c = cells.get(key(side, stack, endpoint)) ?? []
    const b = side === 'current' ? cells.get(key('base', stack, endpoint)) : undefined
    const vs = (k: keyof Cell) => (b ? f(pairRatio(c, b, k), 3) : '')
    // "CPU vs raw": raw's CPU per request over this server's, the req/s ratio two CPU-bound servers
    // would show on a quiet core.
    lines.push(`| ${stack} | ${ENDPOINTS[endpoint]} | ${side} | ${f(median(c.map((x) => x.rps)))} | ${f(median(c.map((x) => x.cpuUs)), 1)} | ${f(median(c.map((x) => x.offUs)), 1)} | ${f(median(c.map((x) => x.est)))} | ${vs('rps')} | ${vs('cpuUs')} | ${vs('est')} | ${raw ? `${f(100 * pairRatio(c, raw, 'est'), 1)} %` : ''} | ${raw ? `${f(100 / pairRatio(c, raw, 'cpuUs'), 1)} %` : ''} | ${c.reduce((a, x) => a + x.bad, 0)} |`)
  }
}
console.log(`\nBun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z, load at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`)
console.log(lines.join('\n'))
