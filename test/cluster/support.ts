/**
 * Test support for the cluster tests: a highperf primary (source, binary or a fixture) spawned
 * with its JSON log lines read as they come, so a test can wait for "server process 2 ready", read
 * the pids of the server processes from the primary's lines, and count which process answered a
 * request from the access log lines (each carries its process's `pid`).
 *
 * @example
 * ```ts
 * const c = spawnCluster([process.execPath, 'run', 'src/main.ts'], { PROCESSES: '2', PORT: String(port) })
 * await c.waitFor((l) => l.msg === 'all 2 server processes ready')
 * c.readyPids() // Map { 1 => 4242, 2 => 4243 }
 * await c.stop()
 * ```
 */
import type { Subprocess } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { rawRequest } from '../support/raw-http.ts'

/** One JSON log line (other lines are kept as `{ text }`). */
export type LogLine = Record<string, unknown> & { msg?: string }

/** A running primary and everything it (and its children, which share its stdout) logged. */
export interface SpawnedCluster {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  readonly lines: LogLine[]
  stderr(): string
  /** Resolves with the first line (from `from` on) matching; throws after `timeoutMs` or if the primary exits first. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs?: number, from?: number): Promise<LogLine>
  /** The pid of the process each slot last reported ready (from the primary's lines). */
  readyPids(): Map<number, number>
  /** Every child pid the lines name. */
  childPids(): Set<number>
  /** SIGTERM (unless already exited), then the exit code; SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | null>
}

export const ROOT = resolve(import.meta.dir, '../..')

/** The environment every cluster test starts with: small, quiet, no rate limit, JSON lines. */
export function baseEnv(port: number, dataDir: string): Record<string, string> {
  return { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, PROCESSES: '2', WORKERS: '1', RATE_LIMIT_RPS: '0', LOG_FORMAT: 'json', ACCESS_LOG: 'off', SHUTDOWN_TIMEOUT: '5s' }
}

/** A temporary directory removed by the returned function. */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-cluster-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Spawns `cmd` (clean environment plus `env`) and reads its stdout lines as they come. */
export function spawnCluster(cmd: string[], env: Record<string, string>, cwd = ROOT): SpawnedCluster {
  const proc = Bun.spawn(cmd, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const lines: LogLine[] = []
  let err = ''
  void (async () => {
    const decoder = new TextDecoder()
    let rest = ''
    for await (const chunk of proc.stdout) {
      rest += decoder.decode(chunk, { stream: true })
      let i: number
      while ((i = rest.indexOf('\n')) !== -1) {
        const line = rest.slice(0, i)
        rest = rest.slice(i + 1)
        try { lines.push(JSON.parse(line) as LogLine) } catch { lines.push({ text: line }) }
      }
    }
  })()
  void (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of proc.stderr) err += decoder.decode(chunk, { stream: true })
  })()
  const exited = () => proc.exitCode !== null || proc.signalCode !== null
  return {
    proc,
    lines,
    stderr: () => err,
    async waitFor(match, timeoutMs = 20_000, from = 0) {
      const t0 = performance.now()
      for (;;) {
        for (let i = from; i < lines.length; i++) if (match(lines[i]!)) return lines[i]!
        if (exited()) {
          await Bun.sleep(100) // the last lines
          for (let i = from; i < lines.length; i++) if (match(lines[i]!)) return lines[i]!
          throw new Error(`the primary exited (${proc.exitCode ?? proc.signalCode}) first; stderr: ${err}`)
        }
        if (performance.now() - t0 > timeoutMs) throw new Error(`no matching line within ${timeoutMs} ms; last lines:\n${lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`)
        await Bun.sleep(20)
      }
    },
    readyPids() {
      const out = new Map<number, number>()
      for (const l of lines) if (l.role === 'primary' && typeof l.msg === 'string' && / ready \(pid \d+\)$/.test(l.msg)) out.set(l.slot as number, l.childPid as number)
      return out
    },
    childPids() {
      const out = new Set<number>()
      for (const l of lines) {
        if (typeof l.slot === 'number' && l.role !== 'primary' && typeof l.pid === 'number') out.add(l.pid)
        if (typeof l.childPid === 'number') out.add(l.childPid)
      }
      return out
    },
    async stop(timeoutMs = 20_000) {
      if (!exited()) proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
      const code = await proc.exited
      clearTimeout(timer)
      return proc.signalCode === null ? code : null
    },
  }
}

/** Whether process `pid` still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Resolves once none of `pids` exists; false after `timeoutMs`. */
export async function allGone(pids: Iterable<number>, timeoutMs = 10_000): Promise<boolean> {
  const t0 = performance.now()
  const list = [...pids]
  while (performance.now() - t0 < timeoutMs) {
    if (!list.some(alive)) return true
    await Bun.sleep(50)
  }
  return false
}

/** One GET on a new connection, `Connection: close`; the status, or 0 when refused/reset/empty. */
export async function getOnce(port: number, path = '/healthz'): Promise<number> {
  const res = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 })
  return res.status
}

/**
 * `clients` loops, each opening a new connection per request nonstop until `stop()`; resolves
 * with how many answered 200 and every other outcome.
 */
export function hammer(port: number, clients = 4): { stop(): Promise<{ ok: number; failed: number[] }> } {
  let running = true
  let ok = 0
  const failed: number[] = []
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const status = await getOnce(port)
      if (status === 200) ok++
      else failed.push(status)
    }
  })
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      return { ok, failed }
    },
  }
}
