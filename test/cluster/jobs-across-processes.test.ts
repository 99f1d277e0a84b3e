/**
 * Issue #13 §4 end to end on a real cluster (`PROCESSES=2`, the primary's IPC bus, one
 * jobs.sqlite): `GET /jobs/:id/events` streams every state and progress change and ends with the
 * final state whichever process runs the job and whichever one the client reached; `DELETE
 * /jobs/:id` sent to one process stops the job running in the other at once.
 *
 * Which process runs a job: it is submitted on a connection pinned to process A (./pinned.ts); the
 * submitting runner claims at once (a microtask after the insert), the other only on its heartbeat
 * (every JOB_LEASE / 3, here 10 s), so A runs it; /pool's per-process `running` confirms it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { freePort } from '../support/process.ts'
import { baseEnv, spawnCluster, tempDir, type SpawnedCluster } from './support.ts'
import { pinConnections, type PinnedConnection, type SseEvent } from './pinned.ts'

interface JobView { id: string; state: string; progress: number; startedAt?: string; finishedAt?: string }
interface PoolView { processes: Array<{ process: number; pid: number; running: number }> }

let cluster: SpawnedCluster
let tmp: ReturnType<typeof tempDir>
let port: number
let pids: number[]
/** Two connections per process: one for requests, one for an event stream. */
const conns = new Map<number, PinnedConnection[]>()

beforeAll(async () => {
  tmp = tempDir()
  port = freePort()
  // A long lease: the other process's heartbeat claim (every lease / 3) never races the submitter's.
  cluster = spawnCluster([process.execPath, 'run', 'src/main.ts'], { ...baseEnv(port, tmp.dir), ACCESS_LOG: 'stdout', JOB_LEASE: '30s' })
  await cluster.waitFor((l) => l.msg === 'all 2 server processes ready', 30_000)
  pids = [...cluster.readyPids().values()]
  for (let round = 0; round < 2; round++) {
    for (const [pid, c] of await pinConnections(port, cluster, pids)) conns.set(pid, [...(conns.get(pid) ?? []), c])
  }
}, 60_000)

afterAll(async () => {
  for (const list of conns.values()) for (const c of list) c.close()
  await cluster?.stop()
  tmp?.remove()
})

/** Which pid runs job work now, from /pool gathered through `via`. */
async function runningIn(via: PinnedConnection): Promise<number[]> {
  const pool = (await via.request('GET', '/pool')).json<PoolView>()
  expect(pool.processes.map((p) => p.pid).sort()).toEqual([...pids].sort())
  return pool.processes.filter((p) => p.running > 0).map((p) => p.pid)
}

/**
 * Submits a delayed sleep job on A (so the watcher subscribes while it is still queued), watches
 * it through `watchPid`, and checks the stream: queued, running, every progress step, succeeded.
 */
async function watchJobOf(runPid: number, watchPid: number): Promise<{ firstEventMs: number; runningIn: number[] }> {
  const submit = conns.get(runPid)![0]!
  const stream = conns.get(watchPid)![1]!
  const steps = 5
  const t0 = performance.now()
  const job = (await submit.request('POST', '/jobs', { task: 'sleep', input: { ms: 1000, steps }, delayMs: 400 })).json<JobView>()
  expect(job.state).toBe('queued')
  let owners: number[] = []
  const seen = stream.events(`/jobs/${job.id}/events`, (e) => {
    // While it runs, ask the process the stream is not on who runs it.
    if (e.event === 'progress' && owners.length === 0) void runningIn(conns.get(watchPid === runPid ? pids.find((p) => p !== runPid)! : runPid)![0]!).then((o) => { owners = o })
  })
  const { status, events, ended } = await seen
  expect(status).toBe(200)
  expect(ended).toBe(true)
  const states = events.filter((e) => e.event === 'state').map((e) => JSON.parse(e.data) as JobView)
  expect(states.map((s) => s.state)).toEqual(['queued', 'running', 'succeeded'])
  expect(states.every((s) => s.id === job.id)).toBe(true)
  const progress = events.filter((e) => e.event === 'progress').map((e) => (JSON.parse(e.data) as { progress: number }).progress)
  expect(progress).toEqual([20, 40, 60, 80, 100])
  // Order: running, then the progress steps, then the final state last.
  expect(events.at(-1)!.event).toBe('state')
  expect(events.findIndex((e: SseEvent) => e.event === 'progress')).toBeGreaterThan(events.findIndex((e) => e.data.includes('"running"')))
  const firstEventMs = events[0]!.at - t0
  const runningEvent = events.find((e) => e.data.includes('"running"'))!
  const firstProgress = events.find((e) => e.event === 'progress')!
  // The job's own timestamps (written by the process running it) against arrival on the stream's
  // connection: same host, same clock, millisecond resolution.
  const startedAt = Date.parse(states[1]!.startedAt!)
  const finishedAt = Date.parse(states[2]!.finishedAt!)
  console.log(`events (job in ${runPid === pids[0] ? 'A' : 'B'}, stream on ${watchPid === pids[0] ? 'A' : 'B'}): first event ${firstEventMs.toFixed(1)} ms after the submit was sent; ` +
    `'running' arrived ${runningEvent.wall - startedAt} ms after startedAt, the final state ${events.at(-1)!.wall - finishedAt} ms after finishedAt; running -> first progress ${(firstProgress.at - runningEvent.at).toFixed(1)} ms (task step 200 ms)`)
  return { firstEventMs, runningIn: owners }
}

describe('events across processes: every change, the final state last', () => {
  test('job in A, stream on B', async () => {
    const [a, b] = pids as [number, number]
    const r = await watchJobOf(a, b)
    expect(r.runningIn).toEqual([a])
  }, 20_000)

  test('job in B, stream on A (the reverse)', async () => {
    const [a, b] = pids as [number, number]
    const r = await watchJobOf(b, a)
    expect(r.runningIn).toEqual([b])
  }, 20_000)

  test('job and stream in the same process', async () => {
    const [a] = pids as [number]
    const r = await watchJobOf(a, a)
    expect(r.runningIn).toEqual([a])
  }, 20_000)
})

test('a stream opened on B while the job already runs in A: the snapshot, the remaining progress, the final state', async () => {
  const [a, b] = pids as [number, number]
  const onA = conns.get(a)![0]!
  const stream = conns.get(b)![1]!
  const job = (await onA.request('POST', '/jobs', { task: 'sleep', input: { ms: 1200, steps: 6 } })).json<JobView>()
  const t0 = performance.now()
  while ((await runningIn(onA)).length === 0 && performance.now() - t0 < 5000) await Bun.sleep(10)
  const { events, ended } = await stream.events(`/jobs/${job.id}/events`)
  expect(ended).toBe(true)
  const states = events.filter((e) => e.event === 'state').map((e) => (JSON.parse(e.data) as JobView).state)
  expect(states).toEqual(['running', 'succeeded'])
  // The watch reached A mid-run: progress events came from it (at least the last steps).
  const progress = events.filter((e) => e.event === 'progress').map((e) => (JSON.parse(e.data) as { progress: number }).progress)
  expect(progress.length).toBeGreaterThanOrEqual(3)
  expect(progress.at(-1)).toBe(100)
  expect(progress).toEqual([...progress].sort((x, y) => x - y))
}, 20_000)

describe('cancel across processes', () => {
  test('DELETE on B stops the job running in A within 100 ms; the job is canceled', async () => {
    const [a, b] = pids as [number, number]
    const onA = conns.get(a)![0]!
    const onB = conns.get(b)![0]!
    const job = (await onA.request('POST', '/jobs', { task: 'sleep', input: { ms: 20_000, steps: 20 } })).json<JobView>()
    // Running in A (and only there).
    const t0 = performance.now()
    let owners: number[] = []
    while (performance.now() - t0 < 5000 && owners.length === 0) owners = await runningIn(onB)
    expect(owners).toEqual([a])
    const sent = performance.now()
    const del = await onB.request('DELETE', `/jobs/${job.id}`)
    const answered = performance.now()
    expect(del.status).toBe(200)
    expect(del.json<JobView>().state).toBe('canceled')
    // The run stopped: A's pool runs nothing (asked through A itself, no gather in the way).
    let stoppedAt = 0
    while (performance.now() - sent < 5000) {
      const pool = (await onA.request('GET', '/pool')).json<{ running: number; processes: Array<{ pid: number; running: number }> }>()
      if (pool.processes.find((p) => p.pid === a)!.running === 0) {
        stoppedAt = performance.now()
        break
      }
    }
    expect(stoppedAt).toBeGreaterThan(0)
    const latency = stoppedAt - sent
    console.log(`cancel across processes: DELETE answered in ${(answered - sent).toFixed(1)} ms, run stopped in A within ${latency.toFixed(1)} ms of sending it`)
    // A generous bound (2 shared noisy cores); the figure is reported above.
    expect(latency).toBeLessThan(1000)
    const after = (await onA.request('GET', `/jobs/${job.id}`)).json<JobView>()
    expect(after.state).toBe('canceled')
    // The task saw its abort: pool counts the run as canceled, not ok.
    const tasks = (await onA.request('GET', '/pool')).json<{ tasks: Record<string, { canceled: number; ok: number }> }>().tasks
    expect(tasks.sleep!.canceled).toBe(1)
  }, 20_000)
})
