/**
 * bench/tasks-http/priority.ts: what the pool workers' scheduling priority (WORKER_NICE, docs/pool.md
 * "Worker priority") buys the event loop and costs the CPU tasks (issue 16). Several highperf
 * servers, one per configuration, run side by side and are measured in rotating order in each
 * round (paired rounds: the machine's other load falls on every configuration alike).
 *
 * Per mode, as bench/peers: `1core` pins every server to CPU 0 (WORKERS=1) and wrk to CPU 1;
 * `allcores` pins nothing (PROCESSES=2, so WORKERS=auto is 1 per process on 2 cores). Per round and
 * configuration, for SECS seconds:
 * - wrk -c16 POST /tasks/primes {"n":100000} keeps every worker busy (tasks' req/s: the cost);
 * - wrk -c4 GET /healthz, each connection pausing 10 ms after each answer (~400 probes/s, far from
 *   saturating the event loop): the round's p50/p99, and how many probes took over 1, 2, 5 ms,
 *   summed over the rounds ("> 5 ms" ≤ 1 % is the pooled p99 ≤ 5 ms, issue 16's target, and is
 *   less at the mercy of one disturbed round than a median of p99s);
 * - the run delay per time slice of the server processes' main threads (the kernel's
 *   /proc/<pid>/task/<pid>/schedstat: time runnable but waiting for a CPU, per time it got one);
 * - the nice value the worker threads have (/proc/<pid>/task/<tid>/stat), to show what applied.
 * Then "starved worker" (1core layout): per configuration, POST /tasks/primes req/s (wrk -c2) with a
 * busy shell loop on CPU 0 started from this session (the same scheduling group as the server:
 * autogroup, `/proc/sys/kernel/sched_autogroup_enabled`) and from its own session (`setsid`:
 * another group), against none. A niced worker yields to the loop of its own group only.
 *
 * CONFIGS: a JSON array of environment overrides, one server each; a `tree` key runs that one from
 * another checkout (old against new: `git worktree add /tmp/base <commit>`), a `label` key names
 * it. Default: WORKER_NICE auto (the default), 0, 5, 7, 10.
 *
 * The machine is shared: compare configurations within one run only, and say the load average
 * (printed). Writes bench/results/tasks-http-priority.md.
 *
 * @example
 * ```sh
 * bun bench/tasks-http/priority.ts                                  # ~8 min: both modes, 8 rounds of 3 s, starvation
 * MODES=allcores ROUNDS=12 CONFIGS='[{"tree":"/tmp/base","label":"before"},{"label":"after"}]' STARVE=0 bun bench/tasks-http/priority.ts
 * ```
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { processTree } from '../lib/proc.ts'
import { writeResult } from '../lib/report.ts'
import { startServer, stop } from '../lib/server.ts'
import { median } from '../lib/stats.ts'
import { luaPost, wrk } from '../lib/wrk.ts'

const ROOT = resolve(import.meta.dir, '../..')
const MODES = (process.env.MODES ?? '1core,allcores').split(',')
const ROUNDS = Number(process.env.ROUNDS ?? 8)
const SECS = Number(process.env.SECS ?? 3)
const STARVE = process.env.STARVE !== '0'
const BUSY_CONNECTIONS = 16
const PROBE_CONNECTIONS = 4
const PROBE_PAUSE_MS = 10
const OVER_MS = [1, 2, 5] as const

interface Config { label: string; tree: string; env: Record<string, string> }
const configs: Config[] = (JSON.parse(process.env.CONFIGS ?? '[{"label":"WORKER_NICE auto (default)"},{"WORKER_NICE":"0"},{"WORKER_NICE":"5"},{"WORKER_NICE":"7"},{"WORKER_NICE":"10"}]') as Array<Record<string, string>>)
  .map(({ tree, label, ...env }) => ({ tree: tree ?? ROOT, env, label: label ?? (Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ') || 'defaults') }))

const tmp = mkdtempSync(join(tmpdir(), 'highperf-bench-priority-'))
const primesLua = join(tmp, 'primes.lua')
writeFileSync(primesLua, luaPost('{"n":100000}'))
// wrk calls delay() before each request of a connection; done() prints the counts over thresholds.
const probeLua = join(tmp, 'probe.lua')
writeFileSync(probeLua, [
  `function delay() return ${PROBE_PAUSE_MS} end`,
  'done = function(summary, latency, requests)',
  `  local limits, over, total = { ${OVER_MS.map((ms) => ms * 1000).join(', ')} }, { ${OVER_MS.map(() => 0).join(', ')} }, 0`,
  '  for i = 1, #latency do',
  '    local v, c = latency(i)',
  '    total = total + c',
  '    for k = 1, #limits do if v > limits[k] then over[k] = over[k] + c end end',
  '  end',
  '  io.write(string.format("PROBE p50 %d p99 %d total %d over %s\\n", latency:percentile(50), latency:percentile(99), total, table.concat(over, ",")))',
  'end',
  '',
].join('\n'))

const running = new Set<Subprocess>()
process.on('SIGINT', () => {
  for (const p of running) p.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
  process.exit(130)
})

/** Per thread of a server's process tree: [run ns, wait ns, slices] of main threads, and the workers' nice values. */
function sched(root: number): { wait: number; slices: number; workerNice: number[] } {
  let wait = 0
  let slices = 0
  const workerNice: number[] = []
  for (const pid of processTree(root)) {
    let tids: string[]
    try { tids = readdirSync(`/proc/${pid}/task`) } catch { continue }
    for (const tid of tids) {
      try {
        const base = `/proc/${pid}/task/${tid}`
        if (tid === String(pid)) {
          const [, w, n] = readFileSync(`${base}/schedstat`, 'utf8').trim().split(' ').map(Number)
          wait += w ?? 0
          slices += n ?? 0
        } else if (readFileSync(`${base}/comm`, 'utf8').trim() === 'Worker') {
          const stat = readFileSync(`${base}/stat`, 'utf8')
          workerNice.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]))
        }
      } catch { /* the thread ended */ }
    }
  }
  return { wait, slices, workerNice }
}

interface Probe { p50: number; p99: number; total: number; over: number[] }
async function probe(url: string, cpu: string | undefined): Promise<Probe> {
  const cmd = ['wrk', '-t1', `-c${PROBE_CONNECTIONS}`, `-d${SECS}s`, '-s', probeLua, `${url}/healthz`]
  const p = Bun.spawn(cpu === undefined ? cmd : ['taskset', '-c', cpu, ...cmd], { stdout: 'pipe', stderr: 'ignore' })
  const out = await new Response(p.stdout).text()
  await p.exited
  const m = out.match(/PROBE p50 (\d+) p99 (\d+) total (\d+) over ([\d,]+)/)
  if (!m) throw new Error(`wrk probe output not understood:\n${out}`)
  return { p50: Number(m[1]) / 1000, p99: Number(m[2]) / 1000, total: Number(m[3]), over: (m[4] as string).split(',').map(Number) }
}

interface Round extends Probe { primesRps: number; waitUs: number; workerNice: number[] }
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a')
const pct = (n: number, total: number) => `${f((100 * n) / total)} %`

async function measureMode(mode: string): Promise<string[]> {
  const one = mode === '1core'
  const cpu = one ? '1' : undefined
  const servers: Array<{ c: Config; proc: Subprocess; url: string; rounds: Round[] }> = []
  try {
    for (const [i, c] of configs.entries()) {
      const env = {
        DATA_DIR: join(tmp, `${mode}-${i}`), LOG_LEVEL: 'warn', ACCESS_LOG: 'off', RATE_LIMIT_RPS: '0',
        ...(one ? { WORKERS: '1' } : { PROCESSES: '2' }), ...c.env,
      }
      const st = await startServer({ cmd: [process.execPath, 'src/main.ts'], env, cwd: c.tree, cpu: one ? '0' : undefined })
      running.add(st.proc)
      servers.push({ c, proc: st.proc, url: st.url, rounds: [] })
    }
    // Warm-up: the task path JIT-compiled in every worker.
    for (const s of servers) await wrk(`${s.url}/tasks/primes`, { seconds: 2, connections: BUSY_CONNECTIONS, script: primesLua, cpu })
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(i + r) % servers.length] as (typeof servers)[number]
        const bg = wrk(`${s.url}/tasks/primes`, { seconds: SECS + 1, connections: BUSY_CONNECTIONS, script: primesLua, cpu })
        await Bun.sleep(500)
        const a = sched(s.proc.pid)
        const p = await probe(s.url, cpu)
        const b = sched(s.proc.pid)
        const busy = await bg
        const round: Round = { ...p, primesRps: busy.rps, waitUs: (b.wait - a.wait) / 1e3 / Math.max(1, b.slices - a.slices), workerNice: b.workerNice }
        s.rounds.push(round)
        console.error(`${mode} round ${r + 1} ${s.c.label.padEnd(28)} /healthz p99 ${f(p.p99)} ms, > 5 ms ${p.over[2]}/${p.total}; primes ${f(busy.rps, 0)}/s; main run delay ${f(round.waitUs, 0)} µs/slice; worker nice ${b.workerNice.join(',')}`)
      }
    }
  } finally {
    for (const s of servers) {
      await stop(s.proc)
      running.delete(s.proc)
    }
  }
  const lines = [
    `### ${one ? '1 core: servers on CPU 0 (WORKERS=1), wrk on CPU 1' : 'All cores: nothing pinned, PROCESSES=2 (1 worker each)'}`,
    '',
    `| configuration | worker nice | /healthz p50 ms | /healthz p99 ms (median of rounds) | ${OVER_MS.map((ms) => `> ${ms} ms (pooled)`).join(' | ')} | main thread run delay µs/slice | POST /tasks/primes req/s |`,
    `| --- | --- | ---: | ---: | ${OVER_MS.map(() => '---:').join(' | ')} | ---: | ---: |`,
  ]
  for (const s of servers) {
    const total = s.rounds.reduce((a, x) => a + x.total, 0)
    const over = OVER_MS.map((_, k) => s.rounds.reduce((a, x) => a + (x.over[k] ?? 0), 0))
    const nice = [...new Set(s.rounds.flatMap((x) => x.workerNice))].sort((a, b) => a - b).join(', ')
    const med = (k: 'p50' | 'p99' | 'waitUs' | 'primesRps') => median(s.rounds.map((x) => x[k]))
    lines.push(`| ${s.c.label} | ${nice} | ${f(med('p50'))} | ${f(med('p99'))} | ${over.map((n) => pct(n, total)).join(' | ')} | ${f(med('waitUs'), 0)} | ${f(med('primesRps'), 0)} |`)
  }
  lines.push('')
  return lines
}

/** Starved worker: req/s of one worker on CPU 0 next to a CPU hog in this session / its own session. */
async function starvation(): Promise<string[]> {
  const kinds = ['none', 'this session', 'own session'] as const
  const rps = new Map<string, number[]>(configs.flatMap((c) => kinds.map((k) => [`${c.label}|${k}`, [] as number[]])))
  const servers: Array<{ c: Config; proc: Subprocess; url: string }> = []
  try {
    for (const [i, c] of configs.entries()) {
      const env = { DATA_DIR: join(tmp, `starve-${i}`), LOG_LEVEL: 'warn', ACCESS_LOG: 'off', RATE_LIMIT_RPS: '0', WORKERS: '1', POOL_LONG_RUN: '0', ...c.env }
      const st = await startServer({ cmd: [process.execPath, 'src/main.ts'], env, cwd: c.tree, cpu: '0' })
      running.add(st.proc)
      servers.push({ c, proc: st.proc, url: st.url })
      await wrk(`${st.url}/tasks/primes`, { seconds: 1, connections: 2, script: primesLua, cpu: '1' })
    }
    for (let r = 0; r < Math.max(1, Math.ceil(ROUNDS / 3)); r++) {
      for (const kind of kinds) {
        const hog = kind === 'none' ? undefined : Bun.spawn([...(kind === 'own session' ? ['setsid'] : []), 'taskset', '-c', '0', 'sh', '-c', 'while :; do :; done'], { stdout: 'ignore', stderr: 'ignore' })
        if (hog) running.add(hog)
        await Bun.sleep(300)
        for (const s of servers) {
          const w = await wrk(`${s.url}/tasks/primes`, { seconds: SECS, connections: 2, script: primesLua, cpu: '1' })
          rps.get(`${s.c.label}|${kind}`)?.push(w.rps)
        }
        if (hog) {
          hog.kill('SIGKILL')
          await hog.exited
          running.delete(hog)
        }
      }
    }
  } finally {
    for (const s of servers) {
      await stop(s.proc)
      running.delete(s.proc)
    }
  }
  const lines = [
    '### Starved worker: POST /tasks/primes req/s, 1 worker on CPU 0 next to a busy loop on CPU 0',
    '',
    '| configuration | alone | loop in this session (same group) | loop in its own session (another group) |',
    '| --- | ---: | ---: | ---: |',
  ]
  for (const c of configs) {
    const m = (k: string) => median(rps.get(`${c.label}|${k}`) ?? [])
    lines.push(`| ${c.label} | ${f(m('none'), 0)} | ${f(m('this session'), 0)} | ${f(m('own session'), 0)} |`)
  }
  lines.push('')
  return lines
}

const load0 = loadavg().map((x) => x.toFixed(2)).join(' ')
const started = new Date().toISOString().slice(0, 16)
const body: string[] = []
for (const mode of MODES) body.push(...(await measureMode(mode)))
if (STARVE) body.push(...(await starvation()))
const md = [
  '# bench/tasks-http/priority.ts: worker priority, /healthz latency and the CPU tasks',
  '',
  `Command: \`${['MODES', 'ROUNDS', 'SECS', 'CONFIGS', 'STARVE'].filter((k) => process.env[k] !== undefined).map((k) => `${k}='${process.env[k]}'`).join(' ')}${Object.keys(process.env).some((k) => ['MODES', 'ROUNDS', 'SECS', 'CONFIGS', 'STARVE'].includes(k)) ? ' ' : ''}bun bench/tasks-http/priority.ts\`. ` +
    `Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, started ${started}Z; load average ${load0} at the start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end. ` +
    `${ROUNDS} paired rounds of ${SECS} s: wrk -c${BUSY_CONNECTIONS} POST /tasks/primes {"n":100000} and wrk -c${PROBE_CONNECTIONS} GET /healthz pausing ${PROBE_PAUSE_MS} ms after each answer.`,
  '',
  ...body,
].join('\n')
writeResult('tasks-http-priority', md)
rmSync(tmp, { recursive: true, force: true })
