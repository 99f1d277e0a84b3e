/**
 * Starting and stopping a whole highperf server: build the dependencies, listen, and drain.
 *
 * `main.ts` uses it for the real process; integration tests use it to run a real HTTP server
 * in-process on a free port.
 *
 * Shutdown order: readiness turns 503 and drain hooks run (jobs stop being taken); after
 * `SHUTDOWN_DELAY` the listener closes (no new connections) while in-flight requests finish,
 * bounded by `SHUTDOWN_TIMEOUT`; then every request still waiting is answered 503
 * `shutting_down` (the front's `shutdown()`), connections still open are closed, and the
 * dependencies close in reverse order of creation (`buildDeps` in src/deps.ts knows that order).
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
import type { Server } from 'bun'
import type { Config } from './config.ts'
import { createApp, type AppDeps } from './app.ts'
import { buildDeps, type BuildOptions } from './deps.ts'
import { createLogger, type Logger } from './log.ts'
import { BUN_BODY_CEILING } from './http/body-limit/index.ts'
import type { Bus } from './cluster/bus.ts'

/**
 * After SHUTDOWN_TIMEOUT, how long the 503s given to waiting requests have to be written before
 * the remaining connections are closed (it ends sooner once every request has finished).
 */
export const SHUTDOWN_FLUSH_MS = 1000

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

/** Options for {@link startServer}: a logger to use instead of the configured one, and {@link BuildOptions} passed through. */
export interface StartOptions extends Pick<BuildOptions, 'bus' | 'extraTasks'> {
  log?: Logger
  /** The bus to the other server processes (a cluster child's); `LOCAL_BUS` by default. */
  bus?: Bus
}

/** Builds every dependency, starts listening, and returns a handle with `shutdown()`. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  // Start-up phases, logged at debug level once listening (docs/operations.md#startup-time-and-memory).
  const tStart = performance.now()
  const log = options.log ?? createLogger(config)
  // Workers are spawned once the server listens (below): booting them would compete with this
  // thread for the CPU before the first answer.
  const built = await buildDeps(config, log, {
    startPool: false,
    ...(options.bus ? { bus: options.bus } : {}),
    ...(options.extraTasks === undefined ? {} : { extraTasks: options.extraTasks }),
  })
  const { deps, pool } = built
  const { lifecycle, metrics } = deps

  const tDeps = performance.now()
  const app = createApp(deps)
  const tApp = performance.now()
  const tls = config.tlsCertFile
    ? { cert: Bun.file(config.tlsCertFile), key: Bun.file(config.tlsKeyFile) }
    : undefined
  let server: Server<unknown>
  try {
    server = Bun.serve({
    port: config.port,
    hostname: config.host,
    reusePort: config.reusePort,
    // MAX_BODY_SIZE is enforced by the body-limit plugin, which answers with the JSON envelope;
    // Bun's own limit would answer a bare 413 first (src/http/body-limit/index.ts).
    maxRequestBodySize: BUN_BODY_CEILING,
    idleTimeout: 120,
    ...(tls ? { tls } : {}),
    // The front (the middleware stack), then Elysia's compiled handler; every error is already
    // a JSON envelope by then.
    fetch: app.fetch,
    })
  } catch (err) {
    // The port is taken, the certificate unreadable...: close what was opened before failing.
    await built.close()
    throw err
  }
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
        // Requests still waiting (queued for the pool, a slow body…) get a 503 envelope instead
        // of a cut connection; then Bun has a moment to write those answers before the
        // connections close (a response already streaming, such as SSE, is cut).
        const answered = app.front.shutdown()
        log.warn({ shutdownTimeout: config.shutdownTimeout, answered503: answered }, 'requests outlived SHUTDOWN_TIMEOUT; answered 503 shutting_down, closing connections')
        await Promise.race([drained, Bun.sleep(SHUTDOWN_FLUSH_MS)])
        await server.stop(true)
      }
      await built.close()
    })()
    return stopping
  }

  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const url = `${tls ? 'https' : 'http'}://${host}:${server.port}/`
  return { url, port: server.port ?? config.port, deps, server, shutdown }
}
