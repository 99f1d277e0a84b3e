/**
 * A/B of the front and its stages in process: another checkout's (BASE) against this tree's, in
 * one process, interleaved, as bench/middleware/index.ts measures them (the front's `fetch`, a
 * batch of new Requests per sample, `GET /users/:id` answering a small object). A development aid
 * next to bench/middleware/index.ts, not part of `bun run bench`.
 *
 * Why in process: the front's cost is a few µs in a request that costs tens over a socket, so a
 * change to it drowns in wrk's noise on a shared machine; here each pair of samples runs back to
 * back and the verdict is the median of per-round ratios.
 *
 * @example
 * ```sh
 * mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 * BASE=/tmp/base bun bench/middleware/ab.ts        # 9 rounds
 * BASE=/tmp/base ROUNDS=15 bun bench/middleware/ab.ts
 * ```
 */
import { Elysia, type AnyElysia } from 'elysia'
import { measure } from 'mitata'
import { resolve } from 'node:path'
import { silentLogger } from '../../src/log.ts'
import { median } from '../lib/stats.ts'

const BASE = process.env.BASE
if (!BASE) throw new Error('set BASE to the root of the checkout to compare with (see the file comment)')
const ROUNDS = Number(process.env.ROUNDS ?? 9)
const BATCH = 200
const TOKEN = 'bench-token-0123456789'

interface FrontLike { fetch(request: Request, server: unknown): Response | Promise<Response> }
type StageLike = object
interface Tree {
  createFront(app: AnyElysia, stages: StageLike[], options: { serverName: string; log: unknown; trustProxy: boolean }): FrontLike
  recovery(log: unknown): AnyElysia
  stages(): StageLike[]
  requestSignal(request: Request): AbortSignal
}

/** The modules of the checkout at `root`; the request signal is wherever that tree keeps it. */
async function load(root: string): Promise<Tree> {
  const front = await import(`${root}/src/http/front/index.ts`)
  const { recovery } = await import(`${root}/src/http/recovery/index.ts`)
  const { maxInflight } = await import(`${root}/src/http/max-inflight/index.ts`)
  const { rateLimit } = await import(`${root}/src/http/rate-limit/index.ts`)
  const { auth } = await import(`${root}/src/http/auth/index.ts`)
  const deadlineModule = await import(`${root}/src/http/deadline/index.ts`)
  const { circuitBreaker } = await import(`${root}/src/http/circuit-breaker/index.ts`)
  let requestSignal = deadlineModule.requestSignal
  if (requestSignal === undefined) requestSignal = (await import(`${root}/src/http/request-state.ts`)).requestSignal
  return {
    createFront: front.createFront,
    recovery,
    requestSignal,
    // createStages' guards (docs/resilience.md#order), set so they never refuse.
    stages: () => [
      maxInflight({ limit: 1_000_000_000 }),
      rateLimit({ rps: 1e9, burst: 1e9, trustProxy: false, apiToken: TOKEN }),
      auth({ apiToken: TOKEN, authReads: false }),
      deadlineModule.deadline({ requestTimeout: 10_000, taskTimeout: 30_000, llmTimeout: 60_000 }),
      circuitBreaker({ failureThreshold: 20, openDurationMs: 2_000 }),
    ],
  }
}

const peer = { address: '203.0.113.9', family: 'IPv4', port: 40000 }
const server = { requestIP: () => peer }
const user = { id: 7, name: 'Ada', email: 'ada@example.com' }

interface Variant { name: string; guards: boolean; signal?: boolean; post?: boolean }
const VARIANTS: Variant[] = [
  { name: 'the front alone (request id, headers, recovery)', guards: false },
  { name: 'full guard stack', guards: true },
  { name: 'full guard stack, handler calls requestSignal()', guards: true, signal: true },
  { name: 'full guard stack, POST with valid bearer token', guards: true, post: true },
]

function build(tree: Tree, v: Variant): FrontLike {
  const log = silentLogger()
  let app: AnyElysia = new Elysia().use(tree.recovery(log))
  app = v.signal ? app.get('/users/:id', ({ request }) => { tree.requestSignal(request); return user }) : app.get('/users/:id', () => user)
  app = app.post('/users', () => user)
  return tree.createFront(app, v.guards ? tree.stages() : [], { serverName: 'highperf/bench', log, trustProxy: false })
}

const flush = () => new Promise<void>((r) => setImmediate(r))
async function batch(front: FrontLike, v: Variant): Promise<void> {
  for (let i = 0; i < BATCH; i++) {
    const res = v.post
      ? await front.fetch(new Request('http://localhost/users', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } }), server)
      : await front.fetch(new Request('http://localhost/users/7'), server)
    if (res.status !== 200) throw new Error(`${v.name}: status ${res.status}`)
  }
  await flush()
}

const trees = { base: await load(resolve(BASE)), current: await load(resolve(import.meta.dir, '../..')) }
const fronts = VARIANTS.map((v) => ({ v, base: build(trees.base, v), current: build(trees.current, v) }))
for (const f of fronts) { await batch(f.base, f.v); await batch(f.current, f.v) }

const ns = fronts.map(() => ({ base: [] as number[], current: [] as number[] }))
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, f] of fronts.entries()) {
    // The first of the pair alternates by round.
    const order = round % 2 === 0 ? (['base', 'current'] as const) : (['current', 'base'] as const)
    for (const side of order) {
      const stats = await measure(() => batch(f[side], f.v), { min_cpu_time: 300 * 1e6, min_samples: 20 })
      ns[i]![side].push(stats.p50 / BATCH)
    }
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`)
}

console.log(`\nbench/middleware/ab: Bun ${Bun.version}, ${ROUNDS} rounds, batches of ${BATCH}, ${new Date().toISOString().slice(0, 16)}Z\n`)
console.log('| variant | base ns/req | current ns/req | current/base (median of rounds) | rounds min–max |')
console.log('| --- | ---: | ---: | ---: | --- |')
for (const [i, f] of fronts.entries()) {
  const { base, current } = ns[i]!
  const ratios = current.map((c, r) => c / (base[r] as number))
  console.log(`| ${f.v.name} | ${median(base).toFixed(0)} | ${median(current).toFixed(0)} | ${median(ratios).toFixed(3)} | ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)} |`)
}
process.exit(0)
