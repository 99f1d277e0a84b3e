/**
 * Starting and stopping a whole highperf server: build the dependencies, listen, and drain.
 *
 * `main.ts` uses it for the real process; integration tests use it to run a real HTTP server
 * in-process on a free port.
 *
 * Shutdown order: readiness turns 503 and drain hooks run (jobs stop being taken); the listener
 * closes (no new connections) while in-flight requests finish, bounded by `SHUTDOWN_TIMEOUT`;
 * then connections still open are cut and the dependencies close in reverse order of creation.
 * Bun's `server.stop(false)` is used rather than Elysia's `app.stop()`, which aborts in-flight
 * requests.
 *
 * @example
 * ```ts
 * const srv = await startServer(testConfig({ port: 0, dataDir: tmp }))
 * await fetch(`${srv.url}healthz`)
 * await srv.shutdown()
 * ```
 */
import { mkdirSync } from 'node:fs'
import { withTimeout } from './sync/index.ts'
import type { Server } from 'bun'
import type { Config } from './config.ts'
import { createApp, type AppDeps } from './app.ts'
import { Lifecycle } from './lifecycle.ts'
import { createLogger, type Logger } from './log.ts'
import { createMetrics } from './metrics/registry.ts'
import { createAccessLog } from './http/access-log/index.ts'
import { createTracing } from './http/tracing/exporter.ts'
import { join } from 'node:path'
import { UserStore } from './store/users.ts'
import { WorkerPool } from './pool/pool.ts'
import { openJobs } from './jobs/index.ts'
import { BUN_BODY_CEILING } from './http/body-limit/index.ts'
import { LlmClient } from './llm/client.ts'
import { MessageStore } from './store/messages.ts'

/** A running server. */
export interface RunningServer {
  /** Base URL ending in `/`, e.g. `http://127.0.0.1:3000/`. */
  url: string
  port: number
  deps: AppDeps
  server: Server<unknown>
  /** Drains and stops; resolves when everything is closed. Safe to call twice. */
  shutdown(): Promise<void>
}

/** Options for {@link startServer}: a logger to use instead of the configured one. */
export interface StartOptions {
  log?: Logger
}

/** Builds every dependency, starts listening, and returns a handle with `shutdown()`. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  // Start-up phases, logged at debug level once listening (docs/operations.md#startup-time-and-memory).
  const tStart = performance.now()
  const log = options.log ?? createLogger(config)
  mkdirSync(config.dataDir, { recursive: true })
  const lifecycle = new Lifecycle()
  // Closed in reverse order of creation at shutdown.
  const closers: Array<() => Promise<void> | void> = []
  const metrics = createMetrics()
  // Access log closes last (closers run in reverse): it flushes what every other closer logged.
  const accessLog = createAccessLog(config)
  if (accessLog) closers.push(() => accessLog.close())
  const tracing = await createTracing(config)
  if (tracing) closers.push(() => tracing.shutdown())
  const users = UserStore.open(join(config.dataDir, 'users.sqlite'))
  closers.push(() => users.close())
  // Workers are spawned once the server listens (below): booting them would compete with this
  // thread for the CPU before the first answer. Tasks queue until one is up; /readyz waits for one.
  const pool = new WorkerPool({ workers: config.workers, queueLimit: config.queueLimit, log, start: false })
  closers.push(() => pool.close(config.shutdownTimeout))
  lifecycle.addCheck('pool', () => pool.alive > 0)
  // Jobs after the pool: closed before it (closers run in reverse), so running jobs can finish.
  // Draining stops new jobs at once; running ones get until SHUTDOWN_TIMEOUT after the signal.
  const jobs = openJobs(config, pool, log)
  await jobs.start()
  lifecycle.onDrain(() => jobs.drain(config.shutdownTimeout))
  closers.push(() => jobs.close())
  const messages = MessageStore.open(join(config.dataDir, 'messages.sqlite'))
  closers.push(() => messages.close())
  // One client for the server: its semaphore (LLM_CONCURRENCY) and breaker are shared by every
  // request. Closed before the messages store (closers run in reverse): streams still running at
  // the end of the drain are aborted and cannot write afterwards.
  const llm = LlmClient.fromConfig(config, log)
  closers.push(() => llm.close())
  const deps: AppDeps = { config, log, lifecycle, metrics, tracing, accessLog, users, pool, jobs, llm, messages }
  // Pool and job metrics are read from these at scrape time (nothing per request or task).
  metrics.pool.watch(() => pool.stats())
  metrics.jobs.watch(() => jobs.counts())

  const tDeps = performance.now()
  const app = createApp(deps)
  const tApp = performance.now()
  const tls = config.tlsCertFile
    ? { cert: Bun.file(config.tlsCertFile), key: Bun.file(config.tlsKeyFile) }
    : undefined
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    reusePort: config.reusePort,
    // MAX_BODY_SIZE is enforced by the body-limit plugin, which answers with the JSON envelope;
    // Bun's own limit would answer a bare 413 first (src/http/body-limit/index.ts).
    maxRequestBodySize: BUN_BODY_CEILING,
    idleTimeout: 120,
    ...(tls ? { tls } : {}),
    // Elysia's compiled handler; the app already turns every error into a JSON envelope.
    fetch: app.fetch,
  })
  // Elysia's `server` in a hook's context reads app.server; `listen()` would set it, Bun.serve does
  // not. The rate limiter needs it for `server.requestIP(request)` (the client's socket address).
  app.server = server
  const tListen = performance.now()
  pool.start()
  const ms = (t: number) => Math.round(t * 10) / 10
  // `beforeStartServer` is the time since the process started: module loading and the config.
  log.debug({ startupMs: { beforeStartServer: ms(tStart), deps: ms(tDeps - tStart), createApp: ms(tApp - tDeps), listen: ms(tListen - tApp), spawnWorkers: ms(performance.now() - tListen) } }, 'startup phases')
  // In-flight requests read from Bun at scrape time: nothing to count per request.
  metrics.watchInflight(() => server.pendingRequests)

  let stopping: Promise<void> | undefined
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      lifecycle.beginDrain()
      // SHUTDOWN_DELAY: keep accepting while /readyz answers 503, so a load balancer that polls
      // it takes this instance out of rotation before connections start being refused.
      if (config.shutdownDelay > 0) await Bun.sleep(config.shutdownDelay)
      const drained = server.stop(false)
      let timer: ReturnType<typeof setTimeout> | undefined
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), config.shutdownTimeout) })
      const how = await Promise.race([drained.then(() => 'drained' as const), timedOut])
      clearTimeout(timer)
      if (how === 'timeout') {
        log.warn({ shutdownTimeout: config.shutdownTimeout }, 'in-flight requests outlived SHUTDOWN_TIMEOUT; closing them')
        await server.stop(true)
      }
      // Each closer is bounded: a part that hangs (an OTLP endpoint that never answers a final
      // flush, a worker stuck in native code) must not keep the process from exiting.
      const bound = config.shutdownTimeout + 1000
      for (const close of closers.reverse()) {
        try {
          await withTimeout(async () => { await close() }, bound)
        } catch (err) {
          log.error({ err }, 'error or timeout while closing')
        }
      }
    })()
    return stopping
  }

  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const url = `${tls ? 'https' : 'http'}://${host}:${server.port}/`
  return { url, port: server.port ?? config.port, deps, server, shutdown }
}
