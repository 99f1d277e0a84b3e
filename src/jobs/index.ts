/**
 * Jobs, assembled: the store in `DATA_DIR/jobs.sqlite` and the runner on the pool, with the
 * settings from the config. `buildDeps` (src/deps.ts), for the server and the test deps, builds jobs through {@link openJobs}.
 *
 * @example
 * ```ts
 * const jobs = openJobs(config, pool, log)
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
import { openSqliteJobStore } from './sqlite-store.ts'

export { JobRunner } from './runner.ts'
export type { Job, JobState, NewJob } from './model.ts'
export type { JobStore } from './store.ts'

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
