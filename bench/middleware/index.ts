/**
 * bench/middleware: what each guard stage costs per request, in process (the front's `fetch`, no
 * sockets), measured with mitata against a baseline app built in the same run.
 *
 * Every variant is the front (src/http/front: request id, Server header, state per request) in
 * front of an Elysia app with the recovery error handler, running zero, one or all guard stages,
 * answering `GET /users/:id` with a small JSON object. The rate limiter is set so high it never
 * refuses (its lookup and headers are what is measured) and sees a fake socket peer, passed to
 * `fetch` as Bun.serve passes its server. The deadline is 10 s (its cost does not depend on the
 * value; a 100 ms one can expire on this loaded machine and turn a sample into a 504). One sample
 * is a batch of BATCH requests, each a new Request, followed by one `setImmediate` turn: the
 * stages' `after` (max-inflight's release, the deadline's timer clear, the breaker's verdict) runs
 * before the answer is handed back, and the turn keeps anything deferred inside the measured time.
 * Cost per request = median batch time / BATCH; "overhead" is that minus the baseline's. A second
 * figure is process CPU time per request over a fixed number of batches: on a shared machine it
 * does not count the time the process spent descheduled.
 *
 * The machine has 2 cores and is shared: figures are noisy (rounds are interleaved; the median
 * of ROUNDS is reported, and the best round, which is what the code costs when nothing else
 * competes for the core).
 *
 * @example
 * ```sh
 * bun bench/middleware/index.ts            # ~40 s, writes bench/results/middleware.md
 * ROUNDS=1 bun bench/middleware/index.ts   # quick look
 * ```
 */
import { Elysia, type AnyElysia } from 'elysia'
import { measure } from 'mitata'
import { createFront, type Front, type Stage } from '../../src/http/front/index.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { maxInflight } from '../../src/http/max-inflight/index.ts'
import { rateLimit } from '../../src/http/rate-limit/index.ts'
import { auth } from '../../src/http/auth/index.ts'
import { deadline } from '../../src/http/deadline/index.ts'
import { requestSignal } from '../../src/http/request-state.ts'
import { circuitBreaker } from '../../src/http/circuit-breaker/index.ts'
import { silentLogger } from '../../src/log.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const BATCH = 200
const CPU_BATCHES = 50
const TOKEN = 'bench-token-0123456789'

type Guard = 'inflight' | 'ratelimit' | 'auth' | 'deadline' | 'breaker'
const ALL: Guard[] = ['inflight', 'ratelimit', 'auth', 'deadline', 'breaker']

// A socket peer for the rate limiter, as Bun.serve hands its server to the front's fetch.
const peer = { address: '203.0.113.9', family: 'IPv4', port: 40000 }
const server = { requestIP: () => peer }

function build(guards: Guard[], opts: { useSignal?: boolean } = {}): Front {
  const log = silentLogger()
  // In createStages' order (docs/resilience.md#order), whichever subset is measured.
  const stages: Stage[] = []
  for (const g of ALL) {
    if (!guards.includes(g)) continue
    if (g === 'inflight') stages.push(maxInflight({ limit: 1_000_000_000 }))
    if (g === 'ratelimit') stages.push(rateLimit({ rps: 1e9, burst: 1e9, trustProxy: false, apiToken: '' }))
    if (g === 'auth') stages.push(auth({ apiToken: TOKEN, authReads: false }))
    if (g === 'deadline') stages.push(deadline({ requestTimeout: 10_000, taskTimeout: 30_000, llmTimeout: 60_000 }))
    if (g === 'breaker') stages.push(circuitBreaker({ failureThreshold: 20, openDurationMs: 2_000 }))
  }
  const user = { id: 7, name: 'Ada', email: 'ada@example.com' }
  let app: AnyElysia = new Elysia().use(recovery(log))
  app = opts.useSignal ? app.get('/users/:id', ({ request }) => { requestSignal(request); return user }) : app.get('/users/:id', () => user)
  app = app.post('/users', () => user)
  return createFront(app, stages, { serverName: 'highperf/bench', log, trustProxy: false })
}

interface Variant { name: string; app: Front; post?: boolean }
const variants: Variant[] = [
  { name: 'baseline (the front: request id, server header; recovery)', app: build([]) },
  { name: '+ max-inflight', app: build(['inflight']) },
  { name: '+ rate limit', app: build(['ratelimit']) },
  { name: '+ auth (GET, reads open)', app: build(['auth']) },
  { name: '+ deadline (handler never asks for the signal)', app: build(['deadline']) },
  { name: '+ deadline, handler calls requestSignal()', app: build(['deadline'], { useSignal: true }) },
  { name: '+ circuit breaker', app: build(['breaker']) },
  { name: 'full guard stack', app: build(ALL) },
  { name: 'full guard stack, handler calls requestSignal()', app: build(ALL, { useSignal: true }) },
  { name: 'baseline, POST', app: build([]), post: true },
  { name: 'full guard stack, POST with valid bearer token', app: build(ALL), post: true },
]

const flush = () => new Promise<void>((r) => setImmediate(r))

async function batch(v: Variant): Promise<void> {
  for (let i = 0; i < BATCH; i++) {
    const res = v.post
      ? await v.app.fetch(new Request('http://localhost/users', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } }), server)
      : await v.app.fetch(new Request('http://localhost/users/7'), server)
    if (res.status !== 200) throw new Error(`${v.name}: status ${res.status}`)
  }
  await flush()
}

/** CPU time (user + system, all threads: GC included) per request over CPU_BATCHES batches. */
async function cpuPerRequest(v: Variant): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < CPU_BATCHES; i++) await batch(v)
  const d = process.cpuUsage(before)
  return ((d.user + d.system) * 1000) / (CPU_BATCHES * BATCH) // µs -> ns
}

const perRequestNs: number[][] = variants.map(() => [])
const cpuNs: number[][] = variants.map(() => [])
for (const v of variants) await batch(v) // compile every route before measuring
// The full stack really runs its guards: the limiter answers with its headers, auth refuses a
// POST without the token. A variant whose stages did nothing would measure nothing.
{
  const full = variants.find((v) => v.name === 'full guard stack')!.app
  const get = await full.fetch(new Request('http://localhost/users/7'), server)
  const post = await full.fetch(new Request('http://localhost/users', { method: 'POST' }), server)
  if (get.headers.get('ratelimit-limit') === null || post.status !== 401) throw new Error(`full guard stack: ratelimit-limit ${get.headers.get('ratelimit-limit')}, unauthenticated POST ${post.status}`)
}
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, v] of variants.entries()) {
    const stats = await measure(() => batch(v), { min_cpu_time: 300 * 1e6, min_samples: 20 })
    perRequestNs[i]!.push(stats.p50 / BATCH)
    const cpu = await cpuPerRequest(v)
    cpuNs[i]!.push(cpu)
    process.stderr.write(`round ${round + 1}/${ROUNDS} ${v.name}: ${(stats.p50 / BATCH).toFixed(0)} ns/req wall, ${cpu.toFixed(0)} ns/req cpu\n`)
  }
}

const med = perRequestNs.map(upperMedian)
const baseGet = med[0] as number
const basePost = med[variants.findIndex((v) => v.name === 'baseline, POST')] as number
const best = perRequestNs.map((xs) => Math.min(...xs))
const cpu = cpuNs.map(upperMedian)
const us = (ns: number) => (ns / 1000).toFixed(2)
const signed = (ns: number) => `${ns >= 0 ? '+' : ''}${us(ns)}`
const rows = variants.map((v, i) => {
  const ns = med[i] as number
  const baseIndex = v.post ? variants.findIndex((x) => x.name === 'baseline, POST') : 0
  const base = v.post ? basePost : baseGet
  const isBase = v.name.startsWith('baseline')
  const bestOver = (best[i] as number) - (best[baseIndex] as number)
  const cpuOver = (cpu[i] as number) - (cpu[baseIndex] as number)
  return `| ${v.name} | ${us(ns)} | ${isBase ? '—' : signed(ns - base)} | ${(ns / base).toFixed(2)}× | ${us(best[i] as number)} | ${isBase ? '—' : signed(bestOver)} | ${us(cpu[i] as number)} | ${isBase ? '—' : signed(cpuOver)} |`
})
const table = [
  '# Middleware cost per request (bench/middleware)',
  '',
  `\`bun bench/middleware/index.ts\` — ${new Date().toISOString()}, Bun ${Bun.version}, in-process through the front's \`fetch()\` (stages as functions), median of ${ROUNDS} interleaved rounds,`,
  `each the mitata p50 of batches of ${BATCH} requests plus one setImmediate turn (stages' after steps included). 2 shared cores: noisy.`,
  `CPU columns: process CPU time (user + system, all threads, GC included) over ${CPU_BATCHES * BATCH} requests per round; steadier than wall time when other`,
  'processes compete for the cores, since time spent descheduled is not counted.',
  '',
  '| variant | wall µs / req (median) | overhead | vs baseline | wall, best round | overhead | CPU µs / req (median) | CPU overhead |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
].join('\n')
writeResult('middleware', table)
