/**
 * In-process A/B of the whole app: highperf from another checkout (BASE) and this tree loaded in
 * one process, each with its own dependencies (`buildDeps`, the default full stack: rate limit far
 * above the load, access log to a file), called through the front's `fetch` with a stand-in
 * server (`requestIP` answers 127.0.0.1), in batches of 64 requests plus one event-loop turn,
 * the two trees alternating batch by batch. The figure is CPU time per request (process CPU,
 * all threads) and the median of per-pair ratios.
 *
 * Why next to bench/http/ab.ts: a change of a few hundred ns per request (a header read fewer, a
 * check reordered) is lost in the noise of wrk runs on a shared machine, while two trees in one
 * process alternating every few ms see the same machine: an A/A run gives 0.99–1.01. It measures
 * the JavaScript side only (no socket, no Bun HTTP parsing or writing, no `getpeername`): what
 * the served figures add to it, bench/http/ab.ts shows.
 *
 * @example
 * ```sh
 * mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 * BASE=/tmp/base taskset -c 0 bun bench/http/ab-inproc.ts /healthz 15
 * BASE=/tmp/base taskset -c 0 bun bench/http/ab-inproc.ts 'POST /users' 15
 * ```
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { median } from '../lib/stats.ts'

const BASE = process.env.BASE
if (!BASE) throw new Error('set BASE to the root of the checkout to compare with (see the file comment)')
const [path = '/healthz', seconds = '15'] = Bun.argv.slice(2)
const tmp = mkdtempSync(join(tmpdir(), 'highperf-ab-inproc-'))

interface Side { fetch(request: Request, server: unknown): Response | Promise<Response>; close(): Promise<void> }

/** The app of the tree at `root`, built as the server builds it (minus the listener and workers). */
async function load(root: string, name: string): Promise<Side> {
  const dir = join(tmp, name)
  mkdirSync(join(dir, 'files'), { recursive: true })
  writeFileSync(join(dir, 'files', '4k.bin'), new Uint8Array(4096).fill(1))
  const { loadConfig } = await import(join(root, 'src/config.ts'))
  const { buildDeps } = await import(join(root, 'src/deps.ts'))
  const { createApp } = await import(join(root, 'src/app.ts'))
  const { createLogger } = await import(join(root, 'src/log.ts'))
  const r = loadConfig([], {
    LOG_LEVEL: 'info', WORKERS: '1', RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000',
    ACCESS_LOG: join(dir, 'access.log'), DATA_DIR: join(dir, 'data'), FILES_DIR: join(dir, 'files'), PORT: '0',
  })
  const built = await buildDeps(r.config, createLogger(r.config), { startPool: false })
  const app = createApp(built.deps)
  return { fetch: app.fetch, close: () => built.close() }
}

const base = await load(resolve(BASE), 'base')
const current = await load(resolve(import.meta.dir, '../..'), 'current')
const server = { requestIP: () => ({ address: '127.0.0.1', family: 'IPv4', port: 50000 }) }
const post = path === 'POST /users'
let n = 0
const request = () => post
  ? new Request('http://127.0.0.1:3000/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"name":"Bench User","email":"u${++n}@example.com"}` })
  : new Request(`http://127.0.0.1:3000${path}`)
for (const side of [base, current]) {
  await side.fetch(new Request('http://127.0.0.1:3000/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Bench User","email":"bench@example.com"}' }), server)
  const res = await side.fetch(request(), server)
  if (res.status >= 300) throw new Error(`${path} answered ${res.status}`)
}

const BATCHES = 10
const tick = () => new Promise((done) => setImmediate(done))
/** ns of CPU per request over BATCHES batches of 64 concurrent requests. */
async function sample(side: Side): Promise<number> {
  const before = process.cpuUsage()
  for (let b = 0; b < BATCHES; b++) {
    const answers: Array<Response | Promise<Response>> = []
    for (let i = 0; i < 64; i++) answers.push(side.fetch(request(), server))
    for (const a of answers) await (await a).arrayBuffer()
    await tick()
  }
  const cpu = process.cpuUsage(before)
  return ((cpu.user + cpu.system) * 1000) / (BATCHES * 64)
}

for (let i = 0; i < 50; i++) { await sample(base); await sample(current) } // warm-up: JIT tiers
const b: number[] = []
const c: number[] = []
const until = performance.now() + Number(seconds) * 1000
for (let round = 0; performance.now() < until; round++) {
  // The pair back to back, the first of the pair alternating.
  if (round % 2 === 0) { b.push(await sample(base)); c.push(await sample(current)) } else { c.push(await sample(current)); b.push(await sample(base)) }
}
await base.close()
await current.close()
rmSync(tmp, { recursive: true, force: true })
const ratios = c.map((x, i) => x / (b[i] as number))
console.log(`bench/http/ab-inproc ${path}: base ${median(b).toFixed(0)} ns/req, current ${median(c).toFixed(0)} ns/req, current/base ${median(ratios).toFixed(3)} (median of ${ratios.length} pairs; Bun ${Bun.version}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`)
