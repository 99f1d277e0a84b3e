/**
 * Servers under benchmark as separate processes: a free port, spawning with a clean environment,
 * waiting for the first 200 from GET /healthz, and stopping with SIGTERM.
 *
 * @example
 * ```ts
 * import { startServer, stop } from '../lib/server.ts'
 * const s = await startServer({ cmd: [process.execPath, 'src/main.ts'], env: { WORKERS: '1' } })
 * await fetch(`${s.url}/healthz`)
 * await stop(s.proc)
 * ```
 */
import { join } from 'node:path'
import type { Subprocess } from 'bun'

/** The repository root: the default working directory of started servers. */
export const ROOT = join(import.meta.dir, '..', '..')

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released).
 *
 * @example
 * ```ts
 * const port = freePort()
 * ```
 */
export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/** Options of {@link waitHealthy}. */
export interface WaitOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number
  /** Pause between polls (default 100 ms; bench/http uses 1 ms because it measures time to first 200). */
  pollMs?: number
}

/**
 * Polls `<url>/healthz` until it answers 200; returns the ms waited. Throws if `proc` exits first
 * (with its stderr when that was piped) or after `timeoutMs`.
 *
 * @example
 * ```ts
 * await waitHealthy('http://127.0.0.1:4000', proc)
 * ```
 */
export async function waitHealthy(url: string, proc: Subprocess, opts: WaitOptions = {}): Promise<number> {
  const { timeoutMs = 30_000, pollMs = 100 } = opts
  const started = performance.now()
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      const err = proc.stderr instanceof ReadableStream ? await new Response(proc.stderr).text() : ''
      throw new Error(`${url}: server exited with ${proc.exitCode ?? proc.signalCode}${err ? `: ${err}` : ''}`)
    }
    try {
      const res = await fetch(`${url}/healthz`)
      await res.arrayBuffer()
      if (res.status === 200) return performance.now() - started
    } catch { /* not listening yet */ }
    if (performance.now() - started > timeoutMs) throw new Error(`${url}: /healthz did not answer 200 within ${timeoutMs / 1000} s`)
    await Bun.sleep(pollMs)
  }
}

/** Options of {@link startServer}. */
export interface StartOptions extends WaitOptions {
  /** The command, e.g. `[process.execPath, 'src/main.ts']`. */
  cmd: string[]
  /** Added to the environment; PORT and HOST=127.0.0.1 are set unless given here. */
  env?: Record<string, string>
  /** Start from this process's whole environment instead of only PATH and HOME (default false). */
  inheritEnv?: boolean
  /** Working directory (default: the repository root). */
  cwd?: string
  /** Pin the server to this CPU list with `taskset -c` (e.g. '0'). */
  cpu?: string
  /** The server's stderr: 'inherit' (default), or 'pipe' to quote it if the server dies early. */
  stderr?: 'inherit' | 'pipe'
}

/** A started server. */
export interface Started {
  proc: Subprocess
  port: number
  /** `http://127.0.0.1:<port>` */
  url: string
  /** ms from spawn to the first 200 from /healthz. */
  firstOkMs: number
}

/**
 * Spawns a server on a free port and waits until its /healthz answers 200. Only PATH and HOME
 * are taken from this environment (unless `inheritEnv`), so a developer's LOG_LEVEL or PORT
 * cannot leak into a measurement. The process is killed if it never becomes healthy.
 *
 * @example
 * ```ts
 * const s = await startServer({ cmd: ['./highperf'], cwd: runDir, cpu: '0', pollMs: 1 })
 * console.log(s.firstOkMs)
 * ```
 */
export async function startServer(opts: StartOptions): Promise<Started> {
  const port = freePort()
  const base = opts.inheritEnv
    ? { ...process.env }
    : { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' }
  const started = performance.now()
  const proc = Bun.spawn(opts.cpu === undefined ? opts.cmd : ['taskset', '-c', opts.cpu, ...opts.cmd], {
    cwd: opts.cwd ?? ROOT,
    env: { ...base, PORT: String(port), HOST: '127.0.0.1', ...opts.env },
    stdout: 'ignore',
    stderr: opts.stderr ?? 'inherit',
  })
  const url = `http://127.0.0.1:${port}`
  try {
    await waitHealthy(url, proc, opts)
  } catch (err) {
    proc.kill('SIGKILL')
    throw err
  }
  return { proc, port, url, firstOkMs: performance.now() - started }
}

/**
 * Sends SIGTERM and waits for the exit; returns the ms that took (graceful shutdown time).
 *
 * @example
 * ```ts
 * const ms = await stop(s.proc)
 * ```
 */
export async function stop(proc: Subprocess): Promise<number> {
  const t = performance.now()
  proc.kill('SIGTERM')
  await proc.exited
  return performance.now() - t
}
