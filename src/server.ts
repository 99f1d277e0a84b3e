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
import type { Server } from 'bun'
import type { Config } from './config.ts'
import { createApp, type AppDeps } from './app.ts'
import { Lifecycle } from './lifecycle.ts'
import { createLogger, type Logger } from './log.ts'

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
  const log = options.log ?? createLogger(config)
  mkdirSync(config.dataDir, { recursive: true })
  const lifecycle = new Lifecycle()
  // Closed in reverse order of creation at shutdown.
  const closers: Array<() => Promise<void> | void> = []
  const deps: AppDeps = { config, log, lifecycle }

  const app = createApp(deps)
  const tls = config.tlsCertFile
    ? { cert: Bun.file(config.tlsCertFile), key: Bun.file(config.tlsKeyFile) }
    : undefined
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    reusePort: config.reusePort,
    maxRequestBodySize: config.maxBodySize,
    idleTimeout: 120,
    ...(tls ? { tls } : {}),
    // Elysia's compiled handler; the app already turns every error into a JSON envelope.
    fetch: app.fetch,
  })

  let stopping: Promise<void> | undefined
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      lifecycle.beginDrain()
      const drained = server.stop(false)
      let timer: ReturnType<typeof setTimeout> | undefined
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), config.shutdownTimeout) })
      const how = await Promise.race([drained.then(() => 'drained' as const), timedOut])
      clearTimeout(timer)
      if (how === 'timeout') {
        log.warn({ shutdownTimeout: config.shutdownTimeout }, 'in-flight requests outlived SHUTDOWN_TIMEOUT; closing them')
        await server.stop(true)
      }
      for (const close of closers.reverse()) {
        try { await close() } catch (err) { log.error({ err }, 'error while closing') }
      }
    })()
    return stopping
  }

  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const url = `${tls ? 'https' : 'http'}://${host}:${server.port}/`
  return { url, port: server.port ?? config.port, deps, server, shutdown }
}
