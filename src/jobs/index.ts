/**
 * Jobs, assembled: without `JOBS_URL`, the runner over the store in `DATA_DIR/jobs.sqlite`
 * ({@link openJobs}); with it, `BullJobs` on BullMQ 6 (Redis or PostgreSQL), loaded only then,
 * so a server without JOBS_URL loads nothing of BullMQ ({@link openJobService}). `buildDeps`
 * (src/deps.ts), for the server and the test deps, builds jobs through these.
 *
 * @example
 * ```ts
 * const jobs = await openJobService(config, pool, log)
 * await jobs.start()
 * lifecycle.onDrain(() => jobs.drain(config.shutdownTimeout))
 * closers.push(() => jobs.close())
 * ```
 */
import { join } from 'node:path'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { TaskRunner } from '../pool/types.ts'
import { LOCAL_BUS, type Bus } from '../cluster/bus.ts'
import { sharedDatabases } from '../store/sqlite.ts'
import { JobRunner, jobConcurrency } from './runner.ts'
import type { JobService } from './service.ts'
import { openSqliteJobStore } from './sqlite-store.ts'

export { JobRunner } from './runner.ts'
export type { Job, JobState, NewJob } from './model.ts'
export type { JobStore } from './store.ts'
export type { JobService } from './service.ts'

/**
 * Builds the job runner (not yet started) over the embedded SQLite store; `bus` reaches the other
 * server processes sharing it (cancels, events; docs/jobs.md#several-processes).
 */
export function openJobs(config: Config, pool: TaskRunner, log: Logger, bus: Bus = LOCAL_BUS): JobRunner {
  const shared = sharedDatabases(config)
  return new JobRunner({
    store: openSqliteJobStore(join(config.dataDir, 'jobs.sqlite'), { shared }),
    shared,
    bus,
    lease: config.jobLease,
    pool,
    log: log.child({ part: 'jobs' }),
    concurrency: jobConcurrency(config.jobConcurrency, config.workers),
    queueLimit: config.jobQueueLimit,
    backoffBase: config.jobBackoffBase,
    ttl: config.jobTtl,
  })
}

/** Builds the jobs on BullMQ at `config.jobsUrl` (not yet started); imports BullMQ now. */
export async function openBullJobs(config: Config, pool: TaskRunner, log: Logger): Promise<JobService> {
  const { BullJobs } = await import('./bullmq/index.ts')
  return new BullJobs({
    url: config.jobsUrl,
    pool,
    log: log.child({ part: 'jobs' }),
    concurrency: jobConcurrency(config.jobConcurrency, config.workers),
    queueLimit: config.jobQueueLimit,
    backoffBase: config.jobBackoffBase,
    ttl: config.jobTtl,
    lease: config.jobLease,
    startWait: config.startWait,
  })
}

/** The job service `config` asks for: BullMQ when JOBS_URL is set, else the embedded runner. */
export async function openJobService(config: Config, pool: TaskRunner, log: Logger): Promise<JobService> {
  return config.jobsUrl === '' ? openJobs(config, pool, log) : openBullJobs(config, pool, log)
}
