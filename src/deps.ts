/**
 * Building every dependency of the app, once, in the order they must be closed in reverse: the one
 * place that knows how highperf's parts are wired together. `startServer` uses it for the real
 * process, and the tests' `testDeps()` for an in-process app, so both run the same wiring.
 *
 * Order matters at shutdown (closers run in reverse): the access log closes last (it flushes
 * what every other closer logged); jobs close before the pool (running jobs can finish); the LLM
 * client closes before the messages store (streams still running are aborted before the store
 * they write to goes away). Each closer is bounded by `SHUTDOWN_TIMEOUT` + 1 s with `withTimeout`:
 * a part that hangs (an OTLP endpoint that never answers a final flush, a worker stuck in native
 * code) must not keep the process from exiting.
 *
 * Start-up checks come first (src/startup: TLS files, DATA_DIR, FILES_DIR), and each database is
 * opened through `openAtStart`, so a failure is a `StartupError` naming the file and the fix; a
 * part that fails to open closes the parts opened before it, so an embedding process that catches
 * the error is left with no worker running and no database locked.
 *
 * @example
 * ```ts
 * const built = await buildDeps(config, log)
 * const app = createApp(built.deps)
 * await built.close()
 * ```
 */
import { join } from 'node:path'
import type { AppDeps } from './app.ts'
import { detectedCpus, type Config } from './config.ts'
import { Lifecycle } from './lifecycle.ts'
import type { Logger } from './log.ts'
import { createMetrics, type Metrics } from './metrics/registry.ts'
import { localLimiter, type RateLimiter } from './http/rate-limit/index.ts'
import { selectRateLimiter } from './http/rate-limit/select.ts'
import { createAccessLog } from './http/access-log/index.ts'
import { createTracing } from './http/tracing/exporter.ts'
import { SqliteUserStore, type UserStore } from './store/users.ts'
import { storeLocking } from './store/sqlite.ts'
import { SqliteMessageStore, type MessageStore } from './store/messages.ts'
import { openPostgresStores, redactUrl, transientAtOpen } from './store/postgres/index.ts'
import { WorkerPool } from './pool/pool.ts'
import { autoNice } from './pool/nice.ts'
import { openBullJobs, openJobs, type JobService } from './jobs/index.ts'
import { StartupError } from './startup/error.ts'
import { redact } from './jobs/bullmq/redact.ts'
import { LlmClient } from './llm/client.ts'
import { withTimeout } from './sync/index.ts'
import { checkStartup, connectAtStart, openAccessLogAtStart, openAtStart, startAtStart } from './startup/index.ts'
import { LOCAL_BUS, type Bus } from './cluster/bus.ts'

/** Options of {@link buildDeps}. */
export interface BuildOptions {
  /**
   * Spawn the pool's workers now (default). The server passes false and starts them once it
   * listens: booting workers would compete with the main thread for the CPU before the first answer.
   */
  startPool?: boolean
  /** The bus to the other server processes of this host (a cluster child's IPC bus); default LOCAL_BUS. */
  bus?: Bus
  /** Module URL exporting `TASKS`, loaded into the workers besides the registry (tests only; src/pool/types.ts). */
  extraTasks?: URL | string
}

/** The dependencies, the pool itself (to start it later) and one `close()` for all of them. */
export interface BuiltDeps {
  deps: AppDeps
  pool: WorkerPool
  /** Closes every part in reverse order of creation, each bounded; errors are logged, not thrown. */
  close(): Promise<void>
}

/** Builds every dependency of the app from the configuration (see the module comment for the order). */
export async function buildDeps(config: Config, log: Logger, options: BuildOptions = {}): Promise<BuiltDeps> {
  const dataDir = checkStartup(config, log)
  const closers: Closer[] = []
  try {
    return await wire(config, log, options, dataDir, closers)
  } catch (err) {
    await closeAll(closers, config, log)
    throw err
  }
}

type Closer = () => Promise<void> | void

/** Runs `closers` in reverse order of creation, each bounded; errors are logged, not thrown. */
async function closeAll(closers: Closer[], config: Config, log: Logger): Promise<void> {
  const bound = config.shutdownTimeout + 1000
  for (const c of closers.reverse()) {
    try {
      await withTimeout(async () => { await c() }, bound)
    } catch (err) {
      log.error({ err }, 'error or timeout while closing')
    }
  }
}

/**
 * The Redis-backed limiter of `RATE_LIMIT_URL`, insured by the one this host uses alone (the
 * shared-memory table in a cluster, so the host's processes still share one allowance while Redis
 * is away; the in-process buckets otherwise).
 */
async function sharedRateLimiter(config: Config, log: Logger, metrics: Metrics): Promise<RateLimiter & { close(): void }> {
  const { RedisRateLimiter } = await import('./http/rate-limit/redis.ts')
  const options = { rps: config.rateLimitRps, burst: config.rateLimitBurst, trustProxy: config.trustProxy, apiToken: config.apiToken }
  const limiter = new RedisRateLimiter({ url: config.rateLimitUrl, rps: options.rps, burst: options.burst, insurance: selectRateLimiter(config) ?? localLimiter(options), log, onFallback: () => metrics.rateLimitFallback() })
  // A moment for the connection, so the first requests are counted in Redis; a Redis that does
  // not answer does not stop the start (its checks fall back: see the limiter).
  if (!(await limiter.ready(START_WAIT_MS))) log.warn({ rateLimitUrl: redactUrl(config.rateLimitUrl) }, `rate limit: Redis (RATE_LIMIT_URL) not ready after ${START_WAIT_MS} ms; limiting per process until it answers`)
  return limiter
}

const START_WAIT_MS = 1000

/** Creates the parts in order, pushing each one's closer as soon as it exists. */
async function wire(config: Config, log: Logger, options: BuildOptions, dataDir: string, closers: Closer[]): Promise<BuiltDeps> {
  const lifecycle = new Lifecycle()
  const bus = options.bus ?? LOCAL_BUS
  // A fresh registry per instance: two servers (or two tests) in one process never share series.
  // In a cluster it joins prom-client's aggregation: GET /metrics serves the host's merged figures.
  const clustered = config.processes > 1 || config.clusterSlot > 0
  const metrics = createMetrics(clustered ? { cluster: { slot: config.clusterSlot } } : {})
  const accessLog = openAccessLogAtStart(config.accessLog, () => createAccessLog(config))
  if (accessLog) closers.push(() => accessLog.close())
  const tracing = await createTracing(config)
  if (tracing) closers.push(() => tracing.shutdown())
  // One process owns DATA_DIR's databases unless several share the port (SQLITE_LOCKING); shared,
  // a write waits for another process's lock off the event loop (the group commit), 1 s at most,
  // then answers 503 storage_busy.
  const locking = storeLocking(config)
  // DATABASE_URL: users and messages on PostgreSQL, one pool for both (src/store/postgres).
  // A database that comes up a few seconds after this server is waited for (START_WAIT), as JOBS_URL is.
  const pgWait = { startWaitMs: config.startWait, onRetry: (err: unknown) => log.warn({ databaseUrl: redactUrl(config.databaseUrl), reason: err instanceof Error ? err.message : String(err) }, `DATABASE_URL does not answer yet; waiting up to ${config.startWait / 1000} s for it (START_WAIT)`) }
  const pg = config.databaseUrl === '' ? undefined : await connectAtStart(config.databaseUrl, () => openPostgresStores(config.databaseUrl, pgWait), { ms: config.startWait, outOfReach: transientAtOpen })
  if (pg) closers.push(() => pg.close())
  const usersPath = join(dataDir, 'users.sqlite')
  const users: UserStore = pg?.users ?? openAtStart(usersPath, () => SqliteUserStore.open(usersPath, locking))
  closers.push(() => users.close())
  // Tasks submitted before the workers are up wait in the queue; /readyz waits for one worker.
  // WORKER_NICE auto counts the workers of every server process (PROCESSES): the pool alone
  // sees only its own (src/pool/nice.ts autoNice).
  const nice = config.workerNice >= 0 ? config.workerNice : autoNice(config.workers * config.processes, detectedCpus.count)
  const pool = new WorkerPool({
    workers: config.workers, queueLimit: config.queueLimit, log, nice, wake: config.poolWake,
    longRunMs: config.poolLongRun, maxOverflow: config.poolOverflow, start: options.startPool ?? true,
    ...(options.extraTasks === undefined ? {} : { extraTasks: options.extraTasks }),
  })
  closers.push(() => pool.close(config.shutdownTimeout))
  lifecycle.addCheck('pool', () => pool.alive > 0)
  // Draining stops new jobs at once; running ones get until SHUTDOWN_TIMEOUT after the signal.
  const jobs = await openJobsAtStart(config, pool, log, dataDir, closers, bus)
  lifecycle.onDrain(() => jobs.drain(config.shutdownTimeout))
  const messagesPath = join(dataDir, 'messages.sqlite')
  const messages: MessageStore = pg?.messages ?? openAtStart(messagesPath, () => SqliteMessageStore.open(messagesPath, locking))
  closers.push(() => messages.close())
  // One client per server: its semaphore (LLM_CONCURRENCY) and breaker are shared by every request.
  const llm = LlmClient.fromConfig(config, log)
  closers.push(() => llm.close())
  // Pool and job metrics are read from these at scrape time (nothing per request or task).
  metrics.pool.watch(() => pool.stats())
  // Fresh: with a shared jobs.sqlite the cached counts would be the previous scrape's.
  metrics.jobs.watch(() => jobs.freshCounts())

  // RATE_LIMIT_URL: limits shared through Redis, the local limiter as insurance (loaded only then).
  const rateLimiter = config.rateLimitUrl === '' || config.rateLimitRps <= 0 ? undefined : await sharedRateLimiter(config, log, metrics)
  if (rateLimiter) closers.push(() => rateLimiter.close())

  const deps: AppDeps = { config, log, lifecycle, metrics, tracing, accessLog, users, pool, jobs, llm, messages, bus, ...(rateLimiter ? { rateLimiter } : {}) }
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= closeAll(closers, config, log)
    return closing
  }
  return { deps, pool, close }
}

/**
 * The jobs: on bun:sqlite in DATA_DIR, or on BullMQ at JOBS_URL (docs/jobs.md#many-hosts), whose
 * first connection failing is a start-up error naming the URL and the fix.
 */
async function openJobsAtStart(config: Config, pool: WorkerPool, log: Logger, dataDir: string, closers: Closer[], bus: Bus): Promise<JobService> {
  if (config.jobsUrl === '') {
    const jobsPath = join(dataDir, 'jobs.sqlite')
    const jobs = openAtStart(jobsPath, () => openJobs(config, pool, log, bus))
    closers.push(() => jobs.close())
    await startAtStart(jobsPath, () => jobs.start())
    return jobs
  }
  const jobs = await openBullJobs(config, pool, log)
  closers.push(() => jobs.close())
  try {
    await jobs.start()
  } catch (err) {
    const where = redact(config.jobsUrl)
    throw new StartupError('jobs_url', where, `JOBS_URL ${where} does not answer after START_WAIT (${config.startWait / 1000} s): ${err instanceof Error ? err.message : String(err)}`, 'start Redis or PostgreSQL there, or fix JOBS_URL (unset: jobs on bun:sqlite in DATA_DIR)', { cause: err })
  }
  return jobs
}
