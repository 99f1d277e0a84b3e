/**
 * Test support for integration tests that run highperf as a real process (source or compiled
 * binary): a free port, spawning with a clean environment, waiting for the first 200, and
 * collecting output.
 *
 * @example
 * ```ts
 * const port = await freePort()
 * const proc = spawnHighperf([process.execPath, 'run', 'src/main.ts'], { PORT: String(port) })
 * await waitHealthy(`http://127.0.0.1:${port}/healthz`)
 * proc.kill('SIGTERM'); await proc.exited
 * ```
 */
import type { Subprocess } from 'bun'

/** A TCP port that was free a moment ago (bound on 127.0.0.1 and released). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/** A spawned highperf with its output collected as text. */
export interface Spawned {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  /** Resolves once the process has exited, with everything it wrote. */
  output(): Promise<{ code: number | null; stdout: string; stderr: string }>
}

/**
 * Spawns `cmd` with only PATH/HOME from this environment plus `env` (so a developer's PORT or
 * LOG_LEVEL cannot leak in), stdout and stderr piped.
 */
export function spawnHighperf(cmd: string[], env: Record<string, string>, cwd?: string): Spawned {
  const proc = Bun.spawn(cmd, {
    cwd: cwd ?? `${import.meta.dir}/../..`,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const out = new Response(proc.stdout).text()
  const err = new Response(proc.stderr).text()
  return {
    proc,
    async output() {
      const [code, stdout, stderr] = await Promise.all([proc.exited, out, err])
      return { code, stdout, stderr }
    },
  }
}

/** Polls `url` until it answers 200; throws after `timeoutMs` or if `proc` exits first. */
export async function waitHealthy(url: string, proc: Subprocess, timeoutMs = 20_000, init?: BunFetchRequestInit): Promise<number> {
  const start = performance.now()
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`highperf exited (${proc.exitCode ?? proc.signalCode}) before ${url} answered`)
    try {
      const res = await fetch(url, init)
      if (res.status === 200) { await res.arrayBuffer(); return performance.now() - start }
    } catch { /* not listening yet */ }
    if (performance.now() - start > timeoutMs) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`)
    await Bun.sleep(10)
  }
}
