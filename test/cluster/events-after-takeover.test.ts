/**
 * Issue #13 §4, "whichever process runs the job", when that changes mid-stream: a job running in
 * process A is watched through process B; A is SIGKILLed; once A's lease expires (JOB_LEASE=1s) a
 * claim takes the job back (B, or A's replacement) and runs it again. B's stream goes on: the
 * new run's progress, then the final state, and it ends.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { freePort } from '../support/process.ts'
import { alive, baseEnv, spawnCluster, tempDir, type SpawnedCluster } from './support.ts'
import { pinConnections, type PinnedConnection } from './pinned.ts'

interface JobView { id: string; state: string; attempts: number }

let cluster: SpawnedCluster
let tmp: ReturnType<typeof tempDir>
let port: number
let pids: number[]
const conns: PinnedConnection[] = []

beforeAll(async () => {
  tmp = tempDir()
  port = freePort()
  cluster = spawnCluster([process.execPath, 'run', 'src/main.ts'], { ...baseEnv(port, tmp.dir), ACCESS_LOG: 'stdout', JOB_LEASE: '1s' })
  await cluster.waitFor((l) => l.msg === 'all 2 server processes ready', 30_000)
  pids = [...cluster.readyPids().values()]
}, 60_000)

afterAll(async () => {
  for (const c of conns) c.close()
  await cluster?.stop()
  for (const pid of cluster?.childPids() ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL')
  tmp?.remove()
})

test('A runs the job and is SIGKILLed; the stream on B carries the run that took it back, then the final state', async () => {
  const [a, b] = pids as [number, number]
  const first = await pinConnections(port, cluster, pids)
  const second = await pinConnections(port, cluster, [b])
  conns.push(...first.values(), ...second.values())
  const onA = first.get(a)!
  const onB = first.get(b)!
  const stream = second.get(b)!
  // Submitted on A: A claims it at once (B only on its heartbeat, a third of the lease later).
  const job = (await onA.request('POST', '/jobs', { task: 'sleep', input: { ms: 2000, steps: 4 }, maxAttempts: 3 })).json<JobView>()
  const t0 = performance.now()
  let owners: number[] = []
  while (owners.length === 0 && performance.now() - t0 < 5000) {
    const pool = (await onB.request('GET', '/pool')).json<{ processes: Array<{ pid: number; running: number }> }>()
    owners = pool.processes.filter((p) => p.running > 0).map((p) => p.pid)
  }
  expect(owners).toEqual([a])
  let killedAt = 0
  const { events, ended } = await stream.events(`/jobs/${job.id}/events`, (e) => {
    // Killed once the first run's first progress step reached B.
    if (e.event === 'progress' && killedAt === 0) {
      killedAt = performance.now()
      process.kill(a, 'SIGKILL')
    }
  }, 20_000)
  expect(killedAt).toBeGreaterThan(0)
  expect(ended).toBe(true)
  const last = events.at(-1)!
  expect(last.event).toBe('state')
  const final = JSON.parse(last.data) as JobView
  expect(final.state).toBe('succeeded')
  expect(final.attempts).toBe(2)
  // The second run's progress reached the stream, up to its last step.
  const after = events.filter((e) => e.at > killedAt && e.event === 'progress').map((e) => (JSON.parse(e.data) as { progress: number }).progress)
  expect(after.length).toBeGreaterThan(0)
  expect(after.at(-1)).toBe(100)
  const rerun = events.find((e) => e.at > killedAt)
  console.log(`events after takeover: SIGKILL of A -> first event of the new run on B's stream ${rerun ? (rerun.at - killedAt).toFixed(0) : '?'} ms (JOB_LEASE=1s), ` +
    `final state ${(last.at - killedAt).toFixed(0)} ms after the kill; events after the kill: ${events.filter((e) => e.at > killedAt).map((e) => e.event === 'state' ? (JSON.parse(e.data) as JobView).state : (JSON.parse(e.data) as { progress: number }).progress).join(', ')}`)
}, 30_000)
