/**
 * The highperf command: read the configuration, start the server, drain on SIGINT/SIGTERM, reopen
 * the access log file on SIGUSR1 (log rotation). `highperf --check` validates and exits; the
 * subcommands (`healthcheck`, `backup`: src/cli) run instead of the server.
 *
 * Why `server.ts` is imported statically even though a subcommand never uses it: importing it
 * dynamically cut a `highperf healthcheck` from ~30 ms / 51 MB to ~20 ms / 45 MB (one-pass builds), but the bundle
 * then wraps the whole server's module graph for lazy loading and the server's idle RSS grew by
 * ~3.4 MB (66.6 against 63.2 MB with WORKERS=2, medians of 6 starts each). The server's memory
 * matters for as long as it runs; a probe's for 30 ms.
 *
 * Exit codes: 0 after a clean shutdown, 2 for a bad configuration, 1 when the server cannot start.
 *
 * `PROCESSES` > 1: this process becomes the primary (src/cluster/primary.ts: it forks the server
 * processes, supervises and rolls them, and serves nothing itself), and each process it forks runs
 * the server as below with `reusePort` forced, its slot from `HIGHPERF_CLUSTER_SLOT` and the
 * cluster's bus (src/cluster/child.ts). Both are imported dynamically: with `PROCESSES=1` no
 * cluster code but the bus's interface is loaded.
 *
 * A failure before the server listens is one line on stderr, `highperf: …`, naming the setting or
 * file at fault and the fix (docs/operations.md#start-up-failures). It is written synchronously:
 * `process.exit` does not wait for asynchronous writes, and a line written that way was lost in
 * some starts when stderr/stdout were pipes (a container runtime, systemd, a test).
 *
 * @example
 * ```sh
 * PORT=8080 bun run src/main.ts
 * ./dist/highperf --port 8080 --workers 4
 * ```
 */
// First: keeps the start-up code, module bodies included, out of the JIT (see settleAfterStart).
import { endStartupJit } from './startup-jit.ts'
import { ConfigError, detectedCpus, loadConfig } from './config.ts'
import { subcommand } from './cli/index.ts'
import { createLogger, endLogger, writeLineSync, type Logger } from './log.ts'
import { listenError, StartupError } from './startup/index.ts'
import { VERSION } from './version.ts'
import { startServer } from './server.ts'

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

/** The process logger once created: written out before exiting (see {@link exit}). */
let processLog: Logger | undefined

/** One line on stderr, synchronously (see the module comment). */
const fatalLine = (text: string): void => writeLineSync(2, `highperf: ${text}`)

/**
 * The command's arguments. In a server process forked by the primary of a compiled binary,
 * node:cluster passes the program path (`/$bunfs/root/highperf`) as the first argument, as it would
 * a script to `bun`; the compiled binary would take it for one of its own arguments.
 */
function commandArgs(): string[] {
  const argv = process.argv.slice(2)
  const forkedBinary = typeof process.send === 'function' && process.argv[1]?.startsWith('/$bunfs/') === true && argv[0] === process.argv[1]
  return forkedBinary ? argv.slice(1) : argv
}

async function main(): Promise<number> {
  const argv = commandArgs()
  const sub = await subcommand(argv[0])
  if (sub) return await sub(argv.slice(1), process.env)
  let result
  try {
    result = loadConfig(argv, process.env)
  } catch (e) {
    if (e instanceof ConfigError) {
      fatalLine(e.message)
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
  if (result.kind === 'check') return await (await import('./cli/check.ts')).checkConfig(result.config)
  // A server process the primary started (it has the IPC pipe and its slot), or the primary itself.
  const clusterChild = result.config.clusterSlot > 0 && typeof process.send === 'function'
  const config = clusterChild ? { ...result.config, reusePort: true } : result.config
  const rootLog = createLogger(config)
  processLog = rootLog
  if (!clusterChild && config.processes > 1) {
    endStartupJit()
    const { runPrimary } = await import('./cluster/primary.ts')
    return await runPrimary(config, rootLog, { cpus: detectedCpus, onFatal: (reason) => fatalLine(`cannot start: ${reason}`) })
  }
  const member = clusterChild ? await (await import('./cluster/child.ts')).joinCluster(config.clusterSlot, rootLog) : undefined
  // Every line of a server process in a cluster says which slot it plays.
  const log = member ? rootLog.child({ slot: member.slot }) : rootLog
  let srv
  try {
    srv = await startServer(config, member ? { log, bus: member.bus } : { log })
  } catch (err) {
    // An operator's everyday mistakes (a taken port, a read-only DATA_DIR, a wrong certificate
    // path): one clear line, no stack trace.
    const known = err instanceof StartupError ? err : listenError(err, config.host, config.port)
    const reason = known ? known.message : `${err instanceof Error ? err.message : String(err)} (details in the log)`.replace(/[\r\n]+/g, ' ')
    fatalLine(`cannot start: ${reason}`)
    // Anything else is unexpected: one line here, the stack in the log.
    if (!known) log.fatal({ err }, 'cannot start')
    // The primary repeats it in its own line when it gives up on this slot.
    await member?.fatal(reason)
    return 1
  }
  // The signal handlers come first, before the line that says the server listens: until a handler
  // is installed a SIGTERM takes its default action (the process ends at once, no drain), and a
  // supervisor that starts stopping as soon as it reads that line hit this window (a test did).
  let resolveExit!: (code: number) => void
  const exited = new Promise<number>((resolve) => { resolveExit = resolve })
  {
    const resolve = resolveExit
    let stopping = false
    const onSignal = (signal: string) => {
      if (stopping) {
        log.info({ signal }, `${signal}: already shutting down`)
        return
      }
      stopping = true
      log.info({ signal }, 'shutting down')
      srv.shutdown().then(
        () => resolve(0),
        (err) => { log.error({ err }, 'shutdown failed'); resolve(1) },
      )
    }
    // A server process of a cluster keeps its handlers: systemd (KillMode=control-group) and Ctrl-C
    // signal every process, then the primary sends its own SIGTERM, and a second signal must not
    // take the default action (end the process mid-drain). Alone, a second Ctrl-C still ends it.
    const listen = member ? process.on.bind(process) : process.once.bind(process)
    listen('SIGINT', onSignal)
    listen('SIGTERM', onSignal)
    // The primary died (SIGKILL…): drain and exit as on SIGTERM, so no orphan keeps the port.
    member?.onPrimaryGone(() => onSignal('disconnect'))
  }
  // logrotate's contract: after renaming the file it sends SIGUSR1 and the server opens the path
  // again. Handled even without a log file: SIGUSR1's default action would end the process.
  const accessLog = srv.deps.accessLog
  process.on('SIGUSR1', () => {
    const reopened = accessLog?.reopen() ?? false
    log.info({ signal: 'SIGUSR1', accessLog: config.accessLog, reopened }, reopened ? 'access log reopened' : 'SIGUSR1: no access log file to reopen')
  })
  log.info({ url: srv.url, version: VERSION, processes: config.processes, workers: config.workers, cpus: detectedCpus.count, cpuSource: detectedCpus.source }, 'highperf listening')
  settleAfterStart()
  // Ready for the primary as for /readyz: listening, and every readiness check (a pool worker up).
  member?.reportReady(() => !srv.deps.lifecycle.draining && Object.values(srv.deps.lifecycle.checks()).every(Boolean))

  return await exited
}

/** Exits with `code` once the log is written out: `process.exit` would drop its last lines. */
async function exit(code: number): Promise<never> {
  if (processLog) await endLogger(processLog)
  process.exit(code)
}

await exit(await main())
