/**
 * Issue #13 §3 (jobs) on a real cluster: the primary with `PROCESSES=4` (one worker each) on one
 * DATA_DIR, a thousand jobs submitted on the shared port while server processes are SIGKILLed at
 * random (the primary restarts them). Every job answered 202 must succeed, and a job may run more
 * than once only if the process running it was killed, and its next run must start after that
 * kill (no lease taken back from a live process).
 *
 * The server processes run ./fixtures/counting-child.ts (main.ts's start of a server process plus
 * the counting task of test/jobs/fixtures/counting-tasks.ts, which appends `start <n> <pid> <ms>`
 * and `end <n> <pid>` to a file); test/jobs/kill-takeover.test.ts does the same with standalone
 * processes.
 */
import { afterAll, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../support/process.ts'
import { alive, baseEnv, spawnCluster, tempDir, type SpawnedCluster } from './support.ts'

const PROCESSES = 4
const JOBS = 2000
const KILLS = 6

const tmp = tempDir()
const countLog = join(tmp.dir, 'runs.log')
let cluster: SpawnedCluster | undefined

afterAll(async () => {
  if (cluster) {
    await cluster.stop(10_000)
    for (const pid of cluster.childPids()) if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
  tmp.remove()
})

test(`PROCESSES=${PROCESSES}, ${JOBS} jobs, ${KILLS} SIGKILLs of server processes: every accepted job succeeds; only jobs running in a killed process ran twice`, async () => {
  writeFileSync(countLog, '')
  const port = freePort()
  const dataDir = join(tmp.dir, 'data')
  const c = spawnCluster([process.execPath, 'run', 'test/cluster/fixtures/counting-primary.ts'], {
    ...baseEnv(port, dataDir), PROCESSES: String(PROCESSES), JOB_LEASE: '1s', JOB_CONCURRENCY: '4',
    HIGHPERF_TEST_COUNT_LOG: countLog,
  })
  cluster = c
  await c.waitFor((l) => l.msg === `all ${PROCESSES} server processes ready`, 40_000)

  const killedAt = new Map<number, number>()
  let accepted = 0
  const url = `http://127.0.0.1:${port}/jobs`
  const submitOne = async (n: number): Promise<void> => {
    const body = JSON.stringify({ task: 'count.run', input: { n, ms: 5 + (n % 4) * 5 }, maxAttempts: 20 })
    for (;;) {
      try {
        // The same key on every try: a submit whose answer a kill cut off is not stored twice.
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `n-${n}` }, body })
        await res.arrayBuffer()
        if (res.status === 202) { accepted++; return }
      } catch { /* its process was killed mid-request: the kernel picks another */ }
      await Bun.sleep(20)
    }
  }
  const t0 = performance.now()
  let next = 0
  const submitting = Promise.all(Array.from({ length: 16 }, async () => {
    while (next < JOBS) await submitOne(next++)
  }))
  // Kills spread over the submission and the run: a random ready process (the primary restarts it).
  for (let k = 0; k < KILLS; k++) {
    await Bun.sleep(600 + Math.random() * 600)
    const ready = [...c.readyPids().values()].filter((pid) => !killedAt.has(pid) && alive(pid))
    const victim = ready[Math.floor(Math.random() * ready.length)]!
    killedAt.set(victim, Date.now())
    process.kill(victim, 'SIGKILL')
  }
  await submitting
  expect(accepted).toBe(JOBS)

  // Every job ends; the database says how, the file how often each ran and where.
  const db = new Database(join(dataDir, 'jobs.sqlite'), { readonly: true })
  const deadline = Date.now() + 30_000
  let states: Record<string, number> = {}
  for (;;) {
    states = Object.fromEntries(db.query<{ state: string; n: number }, []>('SELECT state, count(*) AS n FROM jobs GROUP BY state').all().map((r) => [r.state, r.n]))
    if ((states.succeeded ?? 0) + (states.failed ?? 0) + (states.canceled ?? 0) >= JOBS || Date.now() > deadline) break
    await Bun.sleep(100)
  }
  db.close()
  const elapsed = performance.now() - t0
  expect(states).toEqual({ succeeded: JOBS })

  const runs = new Map<number, Array<{ pid: number; ended: boolean; at: number }>>()
  for (const line of readFileSync(countLog, 'utf8').split('\n')) {
    const [what, ns, ps, ts] = line.split(' ')
    if (!what) continue
    const list = runs.get(Number(ns)) ?? []
    runs.set(Number(ns), list)
    if (what === 'start') list.push({ pid: Number(ps), ended: false, at: Number(ts) })
    else if (what === 'end') {
      const run = list.find((r) => r.pid === Number(ps) && !r.ended)
      if (run) run.ended = true
    }
  }
  expect(runs.size).toBe(JOBS)
  let twice = 0
  const bad: string[] = []
  const takeovers: number[] = []
  for (const [n, list] of runs) {
    if (list.length === 1) continue
    twice++
    list.sort((x, y) => x.at - y.at)
    // Every run but the last (the one that succeeded) was lost to a kill of its process, before the next run started.
    for (let i = 0; i < list.length - 1; i++) {
      const killed = killedAt.get(list[i]!.pid)
      if (killed === undefined) bad.push(`job ${n}: ran again though its process was not killed: ${JSON.stringify(list)}`)
      else if (list[i + 1]!.at < killed) bad.push(`job ${n}: ran again before its process was killed: ${JSON.stringify(list)}`)
      else takeovers.push(list[i + 1]!.at - killed)
    }
  }
  const restarts = c.lines.filter((l) => l.role === 'primary' && / ready \(pid \d+\)$/.test(String(l.msg))).length - PROCESSES
  console.log(`cluster kill test: ${JOBS} jobs accepted and succeeded, ${KILLS} SIGKILLs (${restarts} restarts seen ready), ${(elapsed / 1000).toFixed(1)} s; ` +
    `${twice} jobs ran more than once, ${bad.length} outside killed processes; kill to next start (JOB_LEASE=1s): ${takeovers.sort((x, y) => x - y).join(', ')} ms`)
  expect(bad).toEqual([])
}, 90_000)
