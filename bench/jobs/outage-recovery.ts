/**
 * bench/jobs/outage-recovery.ts: how long queued jobs wait after their backend comes back.
 *
 * One highperf from source (WORKERS=2, JOB_CONCURRENCY=4, JOB_LEASE=1s) on BullMQ over a private
 * PostgreSQL or Redis (test/support/services.ts: a server of its own on a free port, never the
 * shared 5432/6379). Each round queues JOBS `sleep` jobs of 100 ms, stops the backend (PostgreSQL:
 * `pg_ctl stop -m immediate`; Redis: SIGKILL) 300 ms later, keeps it away 3 s, starts it again, and
 * times until every one of those jobs has succeeded. Prints each round and the min–max.
 *
 * This is the figure behind the Worker's `runRetryDelay` (src/jobs/bullmq/index.ts): BullMQ waits
 * that long after a connection error before fetching again (default 15 s).
 *
 * @example
 * ```sh
 * bun bench/jobs/outage-recovery.ts              # postgres, 3 rounds
 * BACKEND=redis ROUNDS=5 bun bench/jobs/outage-recovery.ts
 * ```
 */
import { PrivatePostgres, PrivateRedis } from '../../test/support/services.ts'
import { startHighperf } from '../../test/support/outage.ts'

const BACKEND = process.env.BACKEND ?? 'postgres'
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const JOBS = Number(process.env.JOBS ?? 60)

const service = BACKEND === 'redis' ? await PrivateRedis.create() : await PrivatePostgres.create()
const srv = await startHighperf({ JOBS_URL: service.url(), JOB_LEASE: '1s', JOB_CONCURRENCY: '4' })
const post = async (): Promise<string> => {
  const res = await fetch(`${srv.base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'sleep', input: { ms: 100 }, maxAttempts: 10 }) })
  if (res.status !== 202) throw new Error(`POST /jobs ${res.status}`)
  return ((await res.json()) as { id: string }).id
}
const succeeded = async (id: string): Promise<boolean> => {
  const res = await fetch(`${srv.base}/jobs/${id}`)
  return res.status === 200 && ((await res.json()) as { state: string }).state === 'succeeded'
}

const figures: number[] = []
try {
  for (let round = 0; round < ROUNDS; round++) {
    const ids: string[] = []
    for (let i = 0; i < JOBS; i++) ids.push(await post())
    await Bun.sleep(300)
    if (service instanceof PrivatePostgres) await service.stop()
    else await service.kill()
    await Bun.sleep(3000)
    await service.start()
    const back = performance.now()
    for (const id of ids) while (!(await succeeded(id))) await Bun.sleep(50)
    const ms = performance.now() - back
    figures.push(ms)
    console.log(`${BACKEND} round ${round + 1}: all ${JOBS} queued jobs succeeded ${ms.toFixed(0)} ms after the backend came back`)
  }
  console.log(`${BACKEND}: ${Math.min(...figures).toFixed(0)}–${Math.max(...figures).toFixed(0)} ms over ${ROUNDS} rounds (load average ${(await Bun.file('/proc/loadavg').text()).split(' ')[0]})`)
} finally {
  srv.s.proc.kill('SIGTERM')
  await srv.s.output()
  srv.remove()
  await service.destroy()
}
