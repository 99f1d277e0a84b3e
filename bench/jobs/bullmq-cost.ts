/**
 * bench/jobs/bullmq-cost.ts: CPU per job of highperf's BullMQ paths on Redis, without HTTP, so the
 * levers of issue 14 show apart from the noise of a shared 2-core box (end-to-end runs of
 * bench/jobs/backends.ts vary ±50 % between runs of the same code).
 *
 * Each round runs one child process per variant, alternating, each on a fresh Redis db:
 * 1. add: JOBS jobs submitted as `POST /jobs` submits them (toBull's options: priority, ages,
 *    attempts, backoff), 64 in flight, either one `queue.add` each (what the server does) or
 *    batched (`addBulk` of what one event-loop turn gathered: tried, not landed), no worker running;
 * 2. work: a BullMQ Worker (concurrency 32, a trivial processor) works that backlog off.
 * Each phase reports the node's CPU µs per job (process.cpuUsage) and redis-server's
 * (/proc/<pid>/stat), and jobs/s. Variants: ioredis tracing as Bun 1.4.5 leaves it (every command
 * traced: `trace`) or with src/node-compat.ts (`notrace`), single adds or batched.
 * Medians over ROUNDS.
 *
 * @example
 * ```sh
 * REDIS_DB=11 bun bench/jobs/bullmq-cost.ts          # ROUNDS=5 JOBS=20000
 * ```
 */
import { readFileSync } from 'node:fs'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { toBull, type BullAdd } from '../../src/jobs/bullmq/mapping.ts'
import { newJob } from '../../src/jobs/model.ts'
import { fillTracingChannelHasSubscribers } from '../../src/node-compat.ts'
import { writeResult } from '../lib/report.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const JOBS = Number(process.env.JOBS ?? 20_000)
const DB = process.env.REDIS_DB ?? '13'
const URL = `redis://127.0.0.1:6379/${DB}`
/**
 * The batching that was tried for `POST /jobs` (not landed, see bench/README.md): adds of one turn
 * go as one `addBulk` after `setImmediate`, at most 2 batches out; each add resolves with its batch.
 */
function batcher(send: (e: BullAdd[]) => Promise<unknown>): (e: BullAdd) => Promise<void> {
  const pending: Array<{ e: BullAdd; done: () => void; fail: (err: unknown) => void }> = []
  let out = 0
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    while (out < 2 && pending.length > 0) {
      const batch = pending.splice(0, 256)
      out++
      send(batch.map((p) => p.e)).then(() => { for (const p of batch) p.done() }, (err: unknown) => { for (const p of batch) p.fail(err) }).finally(() => { out--; schedule() })
    }
  }
  const schedule = (): void => {
    if (!scheduled && out < 2 && pending.length > 0) { scheduled = true; setImmediate(flush) }
  }
  return (e) => new Promise<void>((done, fail) => { pending.push({ e, done, fail }); schedule() })
}

const VARIANTS = (process.env.VARIANTS ?? 'trace+add,notrace+add,trace+batch,notrace+batch,notrace+batch+autopipe').split(',')

interface Phase { nodeUs: number; redisUs: number; perS: number }
interface Report { add: Phase; work: Phase }

function redisPid(): number {
  const out = Bun.spawnSync(['pgrep', '-x', 'redis-server']).stdout.toString().trim().split('\n')[0]
  return Number(out)
}
/** utime + stime of a process, µs (clock ticks of 10 ms). */
function procCpuUs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) * 10_000
}
function selfCpuUs(): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

async function phase(fn: () => Promise<void>, rp: number): Promise<Phase> {
  const n0 = selfCpuUs()
  const r0 = procCpuUs(rp)
  const t0 = performance.now()
  await fn()
  const ms = performance.now() - t0
  return { nodeUs: (selfCpuUs() - n0) / JOBS, redisUs: (procCpuUs(rp) - r0) / JOBS, perS: JOBS / (ms / 1000) }
}

async function child(variant: string): Promise<void> {
  if (variant.startsWith('notrace')) fillTracingChannelHasSubscribers()
  const rp = redisPid()
  const conn = new Redis(URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
  const queue = new Queue('cost', { connection: conn as never, prefix: 'bull' })
  await queue.waitUntilReady()
  const entries: BullAdd[] = Array.from({ length: JOBS }, (_, i) => toBull(newJob({ task: 'echo', input: `{"i":${i}}` }, Date.now()), crypto.randomUUID(), 3_600_000))
  const addOne = variant.includes('batch') ? batcher((e) => queue.addBulk(e)) : (e: BullAdd) => queue.add(e.name, e.data, e.opts).then(() => {})
  let next = 0
  const add = await phase(async () => {
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < JOBS) await addOne(entries[next++]!)
    }))
  }, rp)
  let done = 0
  let finish: () => void = () => {}
  const all = new Promise<void>((r) => { finish = r })
  const work = await phase(async () => {
    const worker = new Worker('cost', async (job) => job.data.input as string, { connection: new Redis(URL, { maxRetriesPerRequest: null, enableAutoPipelining: variant.endsWith('autopipe') }) as never, prefix: 'bull', concurrency: 32 })
    worker.on('completed', () => { if (++done === JOBS) finish() })
    await all
    await worker.close()
  }, rp)
  await queue.close()
  conn.disconnect()
  const report: Report = { add, work }
  process.stdout.write(JSON.stringify(report))
}

if (process.argv[2] === 'child') {
  await child(process.argv[3]!)
  process.exit(0)
}

const results = new Map<string, Report[]>(VARIANTS.map((v) => [v, []]))
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < VARIANTS.length; i++) {
    const v = VARIANTS[(i + r) % VARIANTS.length]!
    Bun.spawnSync(['redis-cli', '-n', DB, 'flushdb'])
    const p = Bun.spawn([process.execPath, import.meta.path, 'child', v], { stdout: 'pipe', stderr: 'inherit', env: { ...process.env } })
    const out = await new Response(p.stdout).text()
    await p.exited
    const rep = JSON.parse(out) as Report
    results.get(v)!.push(rep)
    console.error(`round ${r + 1} ${v}: add node ${rep.add.nodeUs.toFixed(1)} µs redis ${rep.add.redisUs.toFixed(1)} µs ${Math.round(rep.add.perS)}/s; work node ${rep.work.nodeUs.toFixed(1)} µs redis ${rep.work.redisUs.toFixed(1)} µs ${Math.round(rep.work.perS)}/s`)
  }
}
Bun.spawnSync(['redis-cli', '-n', DB, 'flushdb'])

const med = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
const rows = VARIANTS.map((v) => {
  const rs = results.get(v)!
  const m = (f: (r: Report) => number) => med(rs.map(f))
  return `| ${v} | ${m((r) => r.add.nodeUs).toFixed(1)} | ${m((r) => r.add.redisUs).toFixed(1)} | ${Math.round(m((r) => r.add.perS))} | ${m((r) => r.work.nodeUs).toFixed(1)} | ${m((r) => r.work.redisUs).toFixed(1)} | ${Math.round(m((r) => r.work.perS))} |`
})
const md = [
  `Command: \`bun bench/jobs/bullmq-cost.ts\` (ROUNDS=${ROUNDS}, JOBS=${JOBS}, Redis db ${DB}). Bun ${Bun.version}, ${new Date().toISOString()}. Medians; CPU in µs per job.`,
  '',
  '| variant | add: node µs | add: Redis µs | adds/s | work: node µs | work: Redis µs | worked/s |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
].join('\n')
writeResult('jobs-bullmq-cost', md)
