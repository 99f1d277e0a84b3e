/**
 * Jobs on BullMQ survive the loss of a node and of Redis (issue #14 part 2), with real
 * processes: two highperf servers (different ports and DATA_DIRs, one JOBS_URL) and a Redis of
 * the test's own (another port, AOF with `appendfsync always`, so the shared 6379 is never
 * restarted and an acknowledged job survives a Redis SIGKILL).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../../support/process.ts'
import { tempDir } from '../../support/deps.ts'

const tmp = tempDir('highperf-node-loss-')
const redisPort = freePort()
const JOBS_URL = `redis://127.0.0.1:${redisPort}`
let redis: Subprocess | undefined
const servers: Spawned[] = []

function startRedis(): Subprocess {
  return Bun.spawn(['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--dir', tmp.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdout: 'ignore', stderr: 'ignore' })
}

async function redisUp(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = Bun.spawnSync(['redis-cli', '-p', String(redisPort), 'ping'])
    if (r.stdout.toString().trim() === 'PONG') return
    await Bun.sleep(50)
  }
  throw new Error('test redis did not start')
}

async function startNode(name: string): Promise<{ base: string; s: Spawned }> {
  const port = freePort()
  const s = spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
    PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(tmp.dir, name), JOBS_URL, WORKERS: '2', JOB_CONCURRENCY: '8',
    LOG_LEVEL: 'warn', ACCESS_LOG: 'off', SHUTDOWN_TIMEOUT: '1s',
  })
  servers.push(s)
  await waitHealthy(`http://127.0.0.1:${port}/healthz`, s.proc, 30_000)
  return { base: `http://127.0.0.1:${port}`, s }
}

async function post(base: string, body: unknown): Promise<Response> {
  return fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

interface JobView { id: string; state: string; startedAt?: string; attempts: number }

async function getJob(base: string, id: string): Promise<JobView> {
  return (await (await fetch(`${base}/jobs/${id}`)).json()) as JobView
}

beforeAll(async () => {
  redis = startRedis()
  await redisUp()
})

afterAll(async () => {
  for (const s of servers) s.proc.kill('SIGKILL')
  await Promise.all(servers.map((s) => s.proc.exited))
  redis?.kill('SIGKILL')
  await redis?.exited
  tmp.remove()
})

test('node loss: A is SIGKILLed mid-run; all 200 jobs succeed, read through B; A\'s running jobs are taken back', async () => {
  const a = await startNode('a')
  const b = await startNode('b')
  const ids: string[] = []
  for (let i = 0; i < 200; i++) {
    const res = await post(a.base, { task: 'sleep', input: { ms: 100 + (i % 5) * 50 }, maxAttempts: 3 })
    expect(res.status).toBe(202)
    ids.push(((await res.json()) as JobView).id)
  }
  await Bun.sleep(1000)
  const runningBefore = (await (await fetch(`${b.base}/jobs?state=running&limit=1000`)).json()) as { jobs: JobView[] }
  a.s.proc.kill('SIGKILL')
  const killedAt = Date.now()
  await a.s.proc.exited
  const held = runningBefore.jobs.map((j) => j.id)
  const deadline = Date.now() + 120_000
  const retaken = new Map<string, number>()
  for (;;) {
    const views = await Promise.all(ids.map((id) => getJob(b.base, id)))
    for (const v of views) {
      if (held.includes(v.id) && v.startedAt && Date.parse(v.startedAt) > killedAt && !retaken.has(v.id)) retaken.set(v.id, Date.parse(v.startedAt) - killedAt)
    }
    if (views.every((v) => v.state === 'succeeded')) break
    if (Date.now() > deadline) throw new Error(`not all succeeded: ${JSON.stringify(views.filter((v) => v.state !== 'succeeded').map((v) => v.state))}`)
    await Bun.sleep(250)
  }
  const worst = Math.max(0, ...retaken.values())
  console.log(`node loss: 200/200 succeeded; ${retaken.size} jobs running on A at the kill were taken back, the last ${worst} ms after SIGKILL`)
  expect(worst).toBeLessThan(30_000)
  b.s.proc.kill('SIGTERM')
  await b.s.proc.exited
}, 180_000)

test('Redis restart: the server keeps answering, POST /jobs answers 503 jobs_unavailable, nothing accepted is lost', async () => {
  const n = await startNode('c')
  const ids: string[] = []
  for (let i = 0; i < 50; i++) {
    const res = await post(n.base, { task: 'sleep', input: { ms: 200 }, delayMs: 1500 })
    expect(res.status).toBe(202)
    ids.push(((await res.json()) as JobView).id)
  }
  redis!.kill('SIGKILL')
  await redis!.exited
  await Bun.sleep(300)
  const health = await fetch(`${n.base}/healthz`)
  expect(health.status).toBe(200)
  const refused = await post(n.base, { task: 'sleep', input: { ms: 1 } })
  expect(refused.status).toBe(503)
  const body = (await refused.json()) as { error: { code: string; message: string } }
  expect(body.error.code).toBe('jobs_unavailable')
  expect(refused.headers.get('retry-after')).not.toBeNull()
  const read = await fetch(`${n.base}/jobs/${ids[0]}`)
  expect(read.status).toBe(503)
  redis = startRedis()
  await redisUp()
  const deadline = Date.now() + 60_000
  let accepted = 0
  while (Date.now() < deadline) {
    const res = await post(n.base, { task: 'sleep', input: { ms: 1 } })
    if (res.status === 202) { accepted++; break }
    await Bun.sleep(200)
  }
  expect(accepted).toBe(1)
  for (;;) {
    const views = await Promise.all(ids.map((id) => fetch(`${n.base}/jobs/${id}`).then((r) => r.json() as Promise<JobView>)))
    if (views.every((v) => v.state === 'succeeded')) break
    if (Date.now() > deadline) throw new Error(`lost or stuck: ${JSON.stringify(views.map((v) => v.state))}`)
    await Bun.sleep(250)
  }
  n.s.proc.kill('SIGTERM')
  await n.s.proc.exited
}, 120_000)
