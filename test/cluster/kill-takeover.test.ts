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
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../support/process.ts'
import { finalStates, judgeRuns } from '../jobs/fixtures/run-log.ts'
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
    ...baseEnv(port, dataDir), PROCESSES: String(PROCESSES), JOB_LEASE: '3s', JOB_CONCURRENCY: '4',
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
  const { states } = await finalStates(join(dataDir, 'jobs.sqlite'), JOBS)
  const elapsed = performance.now() - t0
  expect(states).toEqual({ succeeded: JOBS })
  const { runs, twice, bad, takeovers } = judgeRuns(countLog, killedAt)
  expect(runs.size).toBe(JOBS)
  const restarts = c.lines.filter((l) => l.role === 'primary' && / ready \(pid \d+\)$/.test(String(l.msg))).length - PROCESSES
  console.log(`cluster kill test: ${JOBS} jobs accepted and succeeded, ${KILLS} SIGKILLs (${restarts} restarts seen ready), ${(elapsed / 1000).toFixed(1)} s; ` +
    `${twice} jobs ran more than once, ${bad.length} outside killed processes; kill to next start (JOB_LEASE=3s): ${takeovers.join(', ')} ms`)
  expect(bad).toEqual([])
}, 90_000)
