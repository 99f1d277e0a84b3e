/**
 * The highperf command: read the configuration, start the server, drain on SIGINT/SIGTERM.
 *
 * Exit codes: 0 after a clean shutdown, 2 for a bad configuration, 1 when the server cannot start.
 *
 * @example
 * ```sh
 * PORT=8080 bun run src/main.ts
 * ./dist/highperf --port 8080 --workers 4
 * ```
 */
// First: keeps the start-up code, module bodies included, out of the JIT (see settleAfterStart).
import { endStartupJit } from './startup-jit.ts'
import { ConfigError, loadConfig } from './config.ts'
import { createLogger } from './log.ts'
import { startServer } from './server.ts'
import { VERSION } from './version.ts'

/** How long after listening the main thread collects its start-up garbage (see below). */
const START_GC_DELAY_MS = 250

/**
 * Start-up is over once the server listens: until then the JIT left the run-once start-up code
 * alone (startup-jit.ts); from here on requests get the normal JIT. A little later, one full
 * collection frees the start-up garbage (~0.6 MB; the collection takes ~7 ms here, so not in the
 * way of the first requests). docs/operations.md#startup-time-and-memory has the figures.
 */
function settleAfterStart(): void {
  endStartupJit()
  setTimeout(() => Bun.gc(true), START_GC_DELAY_MS).unref()
}

async function main(): Promise<number> {
  let result
  try {
    result = loadConfig(process.argv.slice(2), process.env)
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`highperf: ${e.message}\n`)
      return 2
    }
    throw e
  }
  if (result.kind === 'help') {
    process.stdout.write(`${result.text}\n`)
    return 0
  }
  if (result.kind === 'version') {
    process.stdout.write(`highperf ${VERSION} (bun ${Bun.version})\n`)
    return 0
  }
  const config = result.config
  const log = createLogger(config)
  let srv
  try {
    srv = await startServer(config, { log })
  } catch (err) {
    // A taken port is an operator's everyday mistake: one clear line, no stack trace.
    if ((err as { code?: unknown }).code === 'EADDRINUSE') {
      process.stderr.write(`highperf: cannot listen on ${config.host}:${config.port}: the address is already in use; choose another with PORT or --port\n`)
      return 1
    }
    log.fatal({ err }, 'cannot start')
    log.flush()
    return 1
  }
  log.info({ url: srv.url, version: VERSION, workers: config.workers }, 'highperf listening')
  settleAfterStart()

  return await new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'shutting down')
      srv.shutdown().then(
        () => resolve(0),
        (err) => { log.error({ err }, 'shutdown failed'); resolve(1) },
      )
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
}

const code = await main()
process.exit(code)
