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

/** What one run of a process left behind. */
export interface RunOutput {
  /** The exit code; null when it did not exit within the time limit and was killed. */
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `cmd` `times` times, `batch` at once, each with stdout and stderr as pipes (the case where
 * a line written asynchronously before `process.exit` can be lost), and resolves with every
 * output. A run still going after `timeoutMs` is killed (code null), so a start that unexpectedly
 * succeeds fails the test instead of hanging it. `env` may be a function of the run's number, to
 * give each run its own DATA_DIR (runs at once on one DATA_DIR fight over its locks).
 *
 * @example
 * ```ts
 * const runs = await runRepeatedly([process.execPath, 'run', 'src/main.ts'], { DATA_DIR: file }, 20)
 * expect(runs.filter((r) => r.stderr === '')).toHaveLength(0)
 * ```
 */
export async function runRepeatedly(cmd: string[], env: Record<string, string> | ((run: number) => Record<string, string>), times: number, batch = 5, timeoutMs = 20_000): Promise<RunOutput[]> {
  let runs = 0
  const once = async (): Promise<RunOutput> => {
    const s = spawnHighperf(cmd, typeof env === 'function' ? env(runs++) : env)
    const timer = setTimeout(() => s.proc.kill('SIGKILL'), timeoutMs)
    try {
      const { code, stdout, stderr } = await s.output()
      return { code: s.proc.signalCode === null ? code : null, stdout, stderr }
    } finally {
      clearTimeout(timer)
    }
  }
  const all: RunOutput[] = []
  for (let done = 0; done < times; done += batch) {
    all.push(...await Promise.all(Array.from({ length: Math.min(batch, times - done) }, once)))
  }
  return all
}

/**
 * `cmd` prefixed so that it runs without root's power to ignore file permissions (the
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH capabilities), so a `chmod 000` file is unreadable to it
 * as it would be to the unprivileged user a server runs as. Unchanged when not root; undefined
 * when root and `setpriv` (util-linux) is missing.
 *
 * @example const cmd = withoutFileCapabilities([process.execPath, 'run', 'src/main.ts'])
 */
export function withoutFileCapabilities(cmd: string[]): string[] | undefined {
  if (process.getuid?.() !== 0) return cmd
  const setpriv = Bun.which('setpriv')
  return setpriv ? [setpriv, '--inh-caps=-all', '--bounding-set=-all', ...cmd] : undefined
}
