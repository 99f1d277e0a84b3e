/**
 * A/B of a change on the HTTP path: highperf from another checkout (BASE, e.g. an unpacked
 * `git archive` of the last commit) against this tree, over real sockets with wrk, in one run.
 * A development aid next to bench/http/index.ts (the figures the README quotes), not part of
 * `bun run bench`.
 *
 * Why a separate script: a refactor of the front must show its throughput is within noise of
 * before, and two runs of bench/http minutes apart differ by more than that on a shared machine.
 * Here the two servers of a pair run back to back, alternating which goes first, and the verdict
 * is the median of per-pair ratios, so load drift cancels (the method of bench/http/index.ts).
 *
 * Both trees run from source with the same settings as bench/http's highperf rows: "stack off"
 * (RATE_LIMIT_RPS=0, ACCESS_LOG=off) and "full stack" (rate limit far above the load, access log
 * to a file, LOG_LEVEL=info). Each server is pinned to CPU 0 and wrk to CPU 1.
 *
 * @example
 * ```sh
 * mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 * BASE=/tmp/base bun bench/http/ab.ts            # 8 rounds of 2 s per cell
 * BASE=/tmp/base BENCH_ROUNDS=12 bun bench/http/ab.ts
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { startServer, stop } from '../lib/server.ts'
import { median } from '../lib/stats.ts'
import { wrk } from '../lib/wrk.ts'

const BASE = process.env.BASE
if (!BASE) throw new Error('set BASE to the root of the checkout to compare with (see the file comment)')
const HERE = resolve(import.meta.dir, '../..')
const DURATION = Number(process.env.BENCH_DURATION ?? 2)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-ab-'))

const STACKS: Record<string, Record<string, string>> = {
  'stack off': { RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'warn' },
  'full stack': { LOG_LEVEL: 'info', RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000' },
}
const SIDES = { base: resolve(BASE), current: HERE } as const
type Side = keyof typeof SIDES

interface Server { side: Side; stack: string; proc: Subprocess; urls: Record<string, string> }
const servers: Server[] = []
const rps = new Map<string, number[]>()
const key = (side: Side, stack: string, endpoint: string) => `${side}|${stack}|${endpoint}`

console.log(`bench/http/ab: base ${SIDES.base} vs current ${SIDES.current}, -c${CONNECTIONS} ${DURATION}s x ${ROUNDS} rounds, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
try {
  for (const [stack, env] of Object.entries(STACKS)) {
    for (const side of Object.keys(SIDES) as Side[]) {
      const dir = join(tmp, `${side}-${stack.replace(' ', '-')}`)
      const s = await startServer({
        cmd: [process.execPath, 'src/main.ts'],
        cwd: SIDES[side],
        cpu: '0',
        stderr: 'pipe',
        pollMs: 5,
        env: { DATA_DIR: join(dir, 'data'), FILES_DIR: join(dir, 'files'), WORKERS: '1', ...env, ...(env.ACCESS_LOG === undefined ? { ACCESS_LOG: join(dir, 'access.log') } : {}) },
      })
      const created = await fetch(`${s.url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Bench User","email":"bench@example.com"}' })
      const location = created.headers.get('location')
      if (created.status !== 201 || location === null) throw new Error(`${side} ${stack}: POST /users answered ${created.status}`)
      servers.push({ side, stack, proc: s.proc, urls: { 'GET /healthz': `${s.url}/healthz`, 'GET /users/:id': `${s.url}${location}` } })
    }
  }
  for (const s of servers) for (const url of Object.values(s.urls)) await wrk(url, { seconds: 1, connections: CONNECTIONS, cpu: '1' })
  for (let round = 0; round < ROUNDS; round++) {
    for (const stack of Object.keys(STACKS)) {
      for (const endpoint of ['GET /healthz', 'GET /users/:id']) {
        // The pair back to back, the first of the pair alternating by round.
        const pair = servers.filter((s) => s.stack === stack)
        if (round % 2 === 1) pair.reverse()
        for (const s of pair) {
          const r = await wrk(s.urls[endpoint] as string, { seconds: DURATION, connections: CONNECTIONS, cpu: '1' })
          if (r.non2xx + r.socketErrors > 0) throw new Error(`${s.side} ${stack} ${endpoint}: ${r.non2xx} non-2xx, ${r.socketErrors} socket errors`)
          const k = key(s.side, stack, endpoint)
          rps.set(k, [...(rps.get(k) ?? []), r.rps])
        }
      }
    }
    console.log(`  round ${round + 1}/${ROUNDS} done`)
  }
} finally {
  for (const s of servers) await stop(s.proc)
  rmSync(tmp, { recursive: true, force: true })
}

const lines = ['| stack | endpoint | base req/s | current req/s | current/base (median of pairs) | pairs min–max |', '| --- | --- | ---: | ---: | ---: | --- |']
for (const stack of Object.keys(STACKS)) {
  for (const endpoint of ['GET /healthz', 'GET /users/:id']) {
    const b = rps.get(key('base', stack, endpoint)) ?? []
    const c = rps.get(key('current', stack, endpoint)) ?? []
    const ratios = c.map((x, i) => x / (b[i] as number))
    lines.push(`| ${stack} | ${endpoint} | ${median(b).toFixed(0)} | ${median(c).toFixed(0)} | ${median(ratios).toFixed(3)} | ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)} |`)
  }
}
console.log(`\nBun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z, load at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`)
console.log(lines.join('\n'))
