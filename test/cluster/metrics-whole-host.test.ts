/**
 * Issue #13 §6 end to end on a real cluster (`PROCESSES=2`): one scrape of `/metrics`, whichever
 * process serves it, is the whole host's: counters summed and histograms merged across the
 * processes, per-process gauges apart by `process="<slot>"`, host-wide job counts (read from the one
 * jobs.sqlite) not doubled, and `promtool check metrics` clean. `/pool` and `/status/json` show every
 * process.
 *
 * Requests go to chosen processes on keep-alive connections pinned to each (./pinned.ts).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { freePort } from '../support/process.ts'
import { promtool } from '../metrics/promtool.ts'
import { baseEnv, spawnCluster, tempDir, type SpawnedCluster } from './support.ts'
import { pinConnections, type PinnedConnection } from './pinned.ts'

let cluster: SpawnedCluster
let tmp: ReturnType<typeof tempDir>
let port: number
let pids: number[]
let pinned: Map<number, PinnedConnection>

beforeAll(async () => {
  tmp = tempDir()
  port = freePort()
  cluster = spawnCluster([process.execPath, 'run', 'src/main.ts'], { ...baseEnv(port, tmp.dir), ACCESS_LOG: 'stdout' })
  await cluster.waitFor((l) => l.msg === 'all 2 server processes ready', 30_000)
  pids = [...cluster.readyPids().values()]
  pinned = await pinConnections(port, cluster, pids)
}, 60_000)

afterAll(async () => {
  for (const c of pinned?.values() ?? []) c.close()
  await cluster?.stop()
  tmp?.remove()
})

interface Sample { name: string; labels: Record<string, string>; value: number }

/** The samples of an exposition text (comments skipped). */
function samples(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line)
    if (!m) throw new Error(`unparsable sample: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

function find(all: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

test('one scrape, either process: counters summed, histograms merged, gauges per process, jobs not doubled; promtool clean', async () => {
  const [a, b] = pids as [number, number]
  const onA = pinned.get(a)!
  const onB = pinned.get(b)!
  const sentA = 7
  const sentB = 5
  for (let i = 0; i < sentA; i++) expect((await onA.request('GET', '/tasks')).status).toBe(200)
  for (let i = 0; i < sentB; i++) expect((await onB.request('GET', '/tasks')).status).toBe(200)
  // Three jobs, one submitted on A, two on B; all succeed.
  const ids: string[] = []
  for (const c of [onA, onB, onB]) ids.push((await c.request('POST', '/jobs', { task: 'sleep', input: { ms: 0 } })).json<{ id: string }>().id)
  for (const id of ids) {
    const t0 = performance.now()
    while ((await onA.request('GET', `/jobs/${id}`)).json<{ state: string }>().state !== 'succeeded') {
      if (performance.now() - t0 > 5000) throw new Error(`job ${id} did not succeed`)
      await Bun.sleep(20)
    }
  }
  // The job counts are read from SQL at most a second old (src/jobs/shared-counts.ts).
  await Bun.sleep(1100)

  for (const [who, via] of [['A', onA], ['B', onB]] as const) {
    const t0 = performance.now()
    const res = await via.request('GET', '/metrics')
    const ms = performance.now() - t0
    expect(res.status).toBe(200)
    const all = samples(res.body)
    // Counters: the sum of both processes' requests (the scrape itself is not counted yet).
    const tasks = find(all, 'http_requests_total', { method: 'GET', route: '/tasks', status: '200' })
    expect(tasks).toHaveLength(1)
    expect(tasks[0]!.value).toBe(sentA + sentB)
    expect(tasks[0]!.labels.process).toBeUndefined()
    // Histograms: merged, _count the same sum, buckets cumulative up to it.
    const count = find(all, 'http_request_duration_seconds_count', { method: 'GET', route: '/tasks' })
    expect(count.map((s) => s.value)).toEqual([sentA + sentB])
    const inf = find(all, 'http_request_duration_seconds_bucket', { method: 'GET', route: '/tasks', le: '+Inf' })
    expect(inf.map((s) => s.value)).toEqual([sentA + sentB])
    // Per-process gauges: one series per process.
    const rss = find(all, 'process_resident_memory_bytes', {})
    expect(rss.map((s) => s.labels.process).sort()).toEqual(['1', '2'])
    expect(rss.every((s) => s.value > 0)).toBe(true)
    // Host-wide job counts: 3 succeeded, once (not 6).
    expect(find(all, 'jobs', { state: 'succeeded' }).map((s) => s.value)).toEqual([3])
    // Tasks run in whichever process claimed them: summed to 3.
    expect(find(all, 'pool_tasks_total', { task: 'sleep', outcome: 'ok' }).map((s) => s.value)).toEqual([3])
    const lint = await promtool(res.body)
    expect(lint.output).toBe('')
    expect(lint.code).toBe(0)
    console.log(`/metrics scraped through process ${who}: ${ms.toFixed(1)} ms, ${res.body.length} bytes, ${all.length} samples`)
  }
}, 30_000)

test('/status/json, through either process: the host (2 processes, their workers, the 3 jobs once, the 3 task runs summed)', async () => {
  for (const via of pinned.values()) {
    type Status = { processes?: number; pool: { workers: number }; jobs: Record<string, number>; tasks: Array<{ name: string; ok: number }> }
    let status = (await via.request('GET', '/status/json')).json<Status>()
    // Job counts are refreshed behind a poll (src/jobs/shared-counts.ts): the next polls catch up.
    for (let i = 0; i < 30 && status.jobs.succeeded !== 3; i++) {
      await Bun.sleep(100)
      status = (await via.request('GET', '/status/json')).json<Status>()
    }
    expect(status.processes).toBe(2)
    expect(status.pool.workers).toBe(2)
    expect(status.jobs.succeeded).toBe(3)
    expect(status.tasks.find((t) => t.name === 'sleep')?.ok).toBe(3)
  }
}, 10_000)

test('/pool, through either process, lists both with their pids and sums their workers', async () => {
  for (const via of pinned.values()) {
    const pool = (await via.request('GET', '/pool')).json<{ workers: number; processes: Array<{ process: number; pid: number; workers: number }> }>()
    expect(pool.processes.map((p) => p.process).sort()).toEqual([1, 2])
    expect(pool.processes.map((p) => p.pid).sort()).toEqual([...pids].sort())
    expect(pool.workers).toBe(pool.processes.reduce((n, p) => n + p.workers, 0))
    expect(pool.workers).toBe(2)
  }
}, 10_000)
