/**
 * The primary (`PROCESSES` > 1): starts N server processes that share the port (`reusePort`),
 * keeps them running, relays the bus between them, rolls them on SIGHUP and drains them all on
 * SIGTERM/SIGINT. It serves nothing itself: no dependencies built, no database opened, no worker.
 * `main.ts` imports this module dynamically, so a single process (`PROCESSES=1`) never loads it.
 *
 * Why node:cluster rather than `Bun.spawn(process.execPath)` with IPC: `cluster.fork()` starts
 * the same program the same way (the source under `bun`, or the compiled binary, whose argv it
 * rebuilds correctly: measured on Bun 1.4.5 both ways), gives each child an IPC pipe and exit
 * events with code and signal, and is what prom-client's `AggregatorRegistry` expects for the
 * merged `/metrics` (scaleout research §2.5 b). The children do not use cluster's own handle
 * sharing: each listens itself with `reusePort`, and the kernel spreads the connections.
 *
 * Signals: SIGTERM/SIGINT → SIGTERM to every process (each drains as a single server does),
 * bounded by SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT + 5 s, then SIGKILL; exit 0 when every process
 * exited 0, else 1. SIGHUP → roll (./roll.ts). SIGUSR1 → forwarded (access log reopen).
 * Exit 1 with one `highperf: cannot start: …` line when a slot cannot start (./supervisor.ts).
 *
 * @example
 * ```ts
 * if (config.processes > 1) return await (await import('./cluster/primary.ts')).runPrimary(config, log, { cpus: detectedCpus })
 * ```
 */
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { BusData } from './bus.ts'
import { createRateTable } from './rate-table.ts'
import { primaryAnswers, Relay } from './relay.ts'
import { Roller } from './roll.ts'
import { Supervisor } from './supervisor.ts'
import { ensureTcpMigrateReq } from './tcp-migrate.ts'
import { aggregateClusterMetrics } from '../metrics/cluster.ts'

/** Beyond SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT, how long a draining process may take to close before SIGKILL. */
export const STOP_MARGIN_MS = 5000

/** The options of {@link runPrimary}. */
export interface PrimaryOptions {
  /** The CPUs detected and from where (config.ts's `detectedCpus`), for the start-up line. */
  cpus: { count: number; source: string }
  /** Prints the one-line reason when the server processes cannot start (main.ts: `highperf: cannot start: …`). */
  onFatal?(reason: string): void
  /** The program each server process runs, when not this one (test fixtures). */
  exec?: string
}

/**
 * The primary's own answers to `askPrimary`: register a topic here (see relay.ts's module
 * comment). Built in: `cluster`, the slots and their processes.
 */
function registerPrimaryAnswers(sup: Supervisor): void {
  // GET /metrics in any server process: prom-client's AggregatorRegistry asks every child for its
  // registry and merges them (counters and histograms summed, per-process gauges by `process`).
  primaryAnswers.set('metrics', () => aggregateClusterMetrics())
  primaryAnswers.set('cluster', (): BusData => ({
    processes: sup.processes,
    primaryPid: process.pid,
    slots: Array.from({ length: sup.processes }, (_, i) => {
      const c = sup.current(i + 1)
      return { slot: i + 1, pid: c?.pid ?? 0, state: c?.state ?? 'restarting', restarts: sup.restarts(i + 1) }
    }),
  }))
}

/**
 * Runs the primary until it is stopped; resolves with the process's exit code.
 *
 * @example const code = await runPrimary(config, log, { cpus: detectedCpus, onFatal: (r) => console.error(r) })
 */
export async function runPrimary(config: Config, rootLog: Logger, options: PrimaryOptions): Promise<number> {
  const log = rootLog.child({ role: 'primary' })
  const { count, source } = options.cpus
  log.info(
    { processes: config.processes, workersPerProcess: config.workers, cpus: count, cpuSource: source, port: config.port },
    `highperf primary: ${config.processes} server processes × ${config.workers} workers on port ${config.port} (${count} CPUs detected, from ${source})`,
  )
  ensureTcpMigrateReq(log)
  const table = createRateTable(log)
  const removeTable = (): void => table.remove()
  process.on('exit', removeTable)

  let resolveCode!: (code: number) => void
  const finished = new Promise<number>((resolve) => { resolveCode = resolve })
  const stopBound = config.shutdownDelay + config.shutdownTimeout + STOP_MARGIN_MS
  let stopping: Promise<void> | undefined
  const stop = (why: string, fatal?: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason: why, processes: sup.live().length }, `primary stopping (${why}): draining every server process`)
      const clean = await sup.stop(stopBound)
      if (fatal !== undefined) {
        options.onFatal?.(fatal)
        resolveCode(1)
        return
      }
      log.info({ clean }, clean ? 'every server process exited cleanly' : 'some server process did not exit cleanly (see above): exit code 1')
      resolveCode(clean ? 0 : 1)
    })()
    return stopping
  }

  let relay: Relay | undefined
  const sup = new Supervisor({
    cluster: (await import('node:cluster')).default,
    processes: config.processes,
    log,
    env: { HIGHPERF_CLUSTER_RATE_TABLE: table.path },
    exec: options.exec,
    onGiveUp: (reason) => void stop('a server process cannot start', reason),
    onMessage: (child, msg) => relay?.handle(child, msg),
  })
  relay = new Relay(() => ({ live: sup.live(), serving: sup.serving() }))
  registerPrimaryAnswers(sup)
  const roller = new Roller(sup, log, stopBound)

  const onStop = (signal: NodeJS.Signals): void => {
    if (stopping) log.info({ signal }, `${signal}: already stopping`)
    else void stop(signal)
  }
  const onHup = (): void => {
    if (stopping) log.info({ signal: 'SIGHUP' }, 'SIGHUP ignored: stopping')
    else void roller.request()
  }
  const onUsr1 = (): void => {
    log.info({ signal: 'SIGUSR1', processes: sup.live().length }, 'SIGUSR1 forwarded to every server process (access log reopen)')
    sup.signalAll('SIGUSR1')
  }
  process.on('SIGTERM', onStop)
  process.on('SIGINT', onStop)
  process.on('SIGHUP', onHup)
  process.on('SIGUSR1', onUsr1)

  sup.startAll()
  void sup.allReady().then((ready) => {
    if (ready) log.info({ processes: config.processes, pids: sup.serving().map((c) => c.pid) }, `all ${config.processes} server processes ready`)
  })

  const code = await finished
  process.off('SIGTERM', onStop)
  process.off('SIGINT', onStop)
  process.off('SIGHUP', onHup)
  process.off('SIGUSR1', onUsr1)
  removeTable()
  process.off('exit', removeTable)
  return code
}
