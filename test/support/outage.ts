/**
 * Outage runs against a real highperf process: load loops that record every answer with the
 * phase it fell in (before, during, after the outage), a /healthz prober, and the judgement every
 * restart test shares (test/jobs/bullmq/*-restart, test/store/postgres-restart,
 * test/http/rate-limit/redis-restart):
 *
 * - every answer came, within its bound (a hang past the request deadline fails the fetch);
 * - never a 500 (nor any 5xx but 503), each 503 a JSON envelope with a code from the allowed
 *   set and a `Retry-After`;
 * - /healthz answered 200 throughout, and so did /readyz: a shared service being away is not a
 *   reason to take this node out of its load balancer (docs/operations.md#outages);
 * - the process is still running, and after SIGTERM exits 0 with nothing on stderr (an uncaught
 *   exception or unhandled rejection prints there).
 *
 * @example
 * ```ts
 * const srv = await startHighperf({ JOBS_URL: url })
 * const run = new OutageRun(srv.base)
 * run.loop('submit', () => ({ path: '/jobs', method: 'POST', body: { task: 'echo', input: { v: 1 } } }))
 * run.phase = 'during'; await service.kill(); …; run.phase = 'after'
 * await run.stop()
 * expectCleanOutage(run, ['jobs_unavailable', 'circuit_open'])
 * await expectCleanExit(srv)
 * ```
 */
import { expect } from 'bun:test'
import { join } from 'node:path'
import { tempDir } from './deps.ts'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from './process.ts'

/** A running highperf and where it answers. */
export interface Highperf {
  base: string
  s: Spawned
  /** Its DATA_DIR's parent, removed by {@link expectCleanExit}. */
  remove(): void
}

/** Settings every outage run shares; `env` adds or overrides. */
export function outageEnv(dataDir: string, env: Record<string, string>): Record<string, string> {
  return {
    HOST: '127.0.0.1', DATA_DIR: dataDir, WORKERS: '2', LOG_LEVEL: 'warn', ACCESS_LOG: 'off', SHUTDOWN_TIMEOUT: '2s',
    // Generous deadline: a loaded 2-core CI box must not turn a slow round trip into a 504;
    // what is tested is that an outage answers 503 within it, not how fast the database is.
    REQUEST_TIMEOUT: '8s', RATE_LIMIT_RPS: '0',
    ...env,
  }
}

/** Spawns `bun run src/main.ts` with {@link outageEnv} and waits until /readyz answers 200 (its pool is up). */
export async function startHighperf(env: Record<string, string>): Promise<Highperf> {
  const tmp = tempDir('highperf-outage-')
  const port = freePort()
  const s = spawnHighperf([process.execPath, 'run', 'src/main.ts'], { PORT: String(port), ...outageEnv(join(tmp.dir, 'data'), env) })
  try {
    await waitHealthy(`http://127.0.0.1:${port}/readyz`, s.proc, 60_000)
  } catch (err) {
    s.proc.kill('SIGKILL')
    const out = await s.output()
    tmp.remove()
    throw new Error(`${(err as Error).message}\nstdout: ${out.stdout.slice(-2000)}\nstderr: ${out.stderr.slice(-2000)}`)
  }
  return { base: `http://127.0.0.1:${port}`, s, remove: tmp.remove }
}

/** Where in the outage a request was sent. */
export type Phase = 'before' | 'during' | 'after'

/** One answer (or its absence). */
export interface Answer {
  label: string
  phase: Phase
  status: number
  /** The envelope's `error.code`, if any. */
  code?: string
  retryAfter: string | null
  ms: number
  /** Parsed JSON body of a 2xx. */
  body?: unknown
  /** The fetch failed or timed out: no answer. */
  failure?: string
}

/** A request a loop sends. */
export interface Call {
  path: string
  method?: string
  body?: unknown
  headers?: Record<string, string>
}

/** Load loops and a /healthz prober over one server (see the module comment). */
export class OutageRun {
  phase: Phase = 'before'
  readonly answers: Answer[] = []
  readonly health: Answer[] = []
  readonly ready: Answer[] = []
  readonly #base: string
  readonly #boundMs: number
  readonly #loops: Promise<void>[] = []
  #stopped = false

  /** `boundMs`: the longest an answer may take before it counts as a hang (the deadline + slack). */
  constructor(base: string, boundMs = 12_000) {
    this.#base = base
    this.#boundMs = boundMs
    this.#loops.push(this.#probe())
  }

  /** Sends `next()` again and again (`pauseMs` apart) until {@link stop}; `onAnswer` sees each answer. */
  loop(label: string, next: () => Call | undefined, onAnswer?: (a: Answer) => void, pauseMs = 2): void {
    this.#loops.push((async () => {
      while (!this.#stopped) {
        const call = next()
        if (call) {
          const a = await this.send(label, call)
          this.answers.push(a)
          onAnswer?.(a)
        }
        await Bun.sleep(pauseMs)
      }
    })())
  }

  /** One request, timed and bounded, as an {@link Answer} (not recorded). */
  async send(label: string, call: Call): Promise<Answer> {
    const phase = this.phase
    const start = performance.now()
    try {
      const res = await fetch(`${this.#base}${call.path}`, {
        method: call.method ?? 'GET',
        headers: { ...(call.body === undefined ? {} : { 'content-type': 'application/json' }), ...call.headers },
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        signal: AbortSignal.timeout(this.#boundMs),
      })
      const text = await res.text()
      const ms = performance.now() - start
      let json: unknown
      try { json = JSON.parse(text) } catch { /* text body (healthz) */ }
      const code = (json as { error?: { code?: string } } | undefined)?.error?.code
      return { label, phase, status: res.status, retryAfter: res.headers.get('retry-after'), ms, ...(code ? { code } : {}), ...(res.status < 300 ? { body: json } : {}) }
    } catch (err) {
      return { label, phase, status: 0, retryAfter: null, ms: performance.now() - start, failure: String(err) }
    }
  }

  async #probe(): Promise<void> {
    while (!this.#stopped) {
      const [health, ready] = await Promise.all([this.send('healthz', { path: '/healthz' }), this.send('readyz', { path: '/readyz' })])
      this.health.push(health)
      this.ready.push(ready)
      await Bun.sleep(50)
    }
  }

  /**
   * Waits until `ok(answer)` holds for an answer of `label` sent in the current phase and recorded
   * from now on (an earlier outage's answers do not count); throws after `timeoutMs`.
   */
  async until(label: string, ok: (a: Answer) => boolean, timeoutMs = 60_000): Promise<Answer> {
    const phase = this.phase
    const from = this.answers.length
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = this.answers.slice(from).find((a) => a.label === label && a.phase === phase && ok(a))
      if (hit) return hit
      if (Date.now() > deadline) throw new Error(`no ${label} answer as expected in phase ${phase} within ${timeoutMs} ms: ${this.summary()}`)
      await Bun.sleep(50)
    }
  }

  /**
   * One outage, the same for every restart test: `write` answers `ok` (before), the service goes
   * `down()`, `write` answers 503 (during), 2 s later the service comes `up()`, and once `write`
   * answers `ok` again and `read` answers 200 (after), a second of calm. Returns how long after
   * `up()` resolved the first `ok` came, ms.
   *
   * @example recovered.push(await run.outage('submit', 202, 'read', () => redis.kill(), () => redis.start()))
   */
  async outage(write: string, ok: number, read: string, down: () => Promise<void>, up: () => Promise<void>): Promise<number> {
    this.phase = 'before'
    await this.until(write, (a) => a.status === ok)
    await Bun.sleep(1000)
    this.phase = 'during'
    await down()
    await this.until(write, (a) => a.status === 503)
    await Bun.sleep(2000)
    await up()
    this.phase = 'after'
    const back = performance.now()
    await this.until(write, (a) => a.status === ok, 30_000)
    const recovered = performance.now() - back
    await this.until(read, (a) => a.status === 200, 30_000)
    await Bun.sleep(1000)
    return recovered
  }

  /** Stops every loop and waits for the requests in flight. */
  async stop(): Promise<void> {
    this.#stopped = true
    await Promise.all(this.#loops)
  }

  /** `label phase status code: count`, for failure messages and the test log. */
  summary(): string {
    const counts = new Map<string, number>()
    for (const a of [...this.answers, ...this.health, ...this.ready]) {
      const k = `${a.label} ${a.phase} ${a.status}${a.code ? ` ${a.code}` : ''}${a.failure ? ` ${a.failure}` : ''}`
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }
    return [...counts].map(([k, n]) => `${k}: ${n}`).join('; ')
  }
}

/**
 * The shared judgement of an outage (see the module comment): `codes` are the 503 codes the
 * affected routes may answer; `okStatuses` what else they may answer (2xx, 404, 429…).
 */
export function expectCleanOutage(run: OutageRun, codes: readonly string[], okStatuses: readonly number[]): void {
  const all = [...run.answers, ...run.health, ...run.ready]
  expect(all.filter((a) => a.failure !== undefined).map((a) => `${a.label} ${a.phase}: ${a.failure}`)).toEqual([])
  const bad = run.answers.filter((a) => !okStatuses.includes(a.status) && !(a.status === 503 && a.code !== undefined && codes.includes(a.code) && a.retryAfter !== null))
  expect(bad.map((a) => `${a.label} ${a.phase} ${a.status} ${a.code ?? ''} retry-after=${a.retryAfter}`)).toEqual([])
  expect(run.health.filter((a) => a.status !== 200).map((a) => `${a.phase} ${a.status}`)).toEqual([])
  expect(run.ready.filter((a) => a.status !== 200).map((a) => `${a.phase} ${a.status} ${a.code ?? ''}`)).toEqual([])
  // The outage was seen: some answers fell in it (a run that missed it would prove nothing).
  expect(run.health.some((a) => a.phase === 'during')).toBe(true)
}

/**
 * The process is still running; SIGTERM ends it with 0 and an empty stderr (no uncaught error);
 * its log never dumps a database client object (pg-pool attaches one to its errors).
 */
export async function expectCleanExit(h: Highperf): Promise<{ stdout: string }> {
  expect(h.s.proc.exitCode).toBeNull()
  h.s.proc.kill('SIGTERM')
  const out = await h.s.output()
  h.remove()
  expect(out.stderr).toBe('')
  expect(out.code).toBe(0)
  expect(out.stdout).not.toContain('connectionParameters')
  return { stdout: out.stdout }
}

/** The slowest /healthz of each phase, for the test's log line (not asserted: no timed assertions). */
export function healthFigures(run: OutageRun): string {
  const worst = (p: Phase) => Math.max(0, ...run.health.filter((a) => a.phase === p).map((a) => a.ms)).toFixed(0)
  return `/healthz ${run.health.length} probes, slowest before/during/after: ${worst('before')}/${worst('during')}/${worst('after')} ms`
}

/**
 * Waits until every job in `ids` has succeeded (read through `GET /jobs/:id` at `base`); names the
 * others if not within `timeoutMs`.
 *
 * @example await allJobsSucceeded(srv.base, accepted)
 */
export async function allJobsSucceeded(base: string, ids: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let pending = [...ids]
  while (pending.length > 0) {
    const views = await Promise.all(pending.map(async (id) => {
      const res = await fetch(`${base}/jobs/${id}`)
      return res.status === 200 ? (await res.json()) as { id: string; state: string } : { id, state: `http ${res.status}` }
    }))
    pending = views.filter((v) => v.state !== 'succeeded').map((v) => v.id)
    if (pending.length === 0) return
    if (Date.now() > deadline) throw new Error(`${pending.length} of ${ids.length} accepted jobs did not succeed: ${JSON.stringify(views.filter((v) => v.state !== 'succeeded').slice(0, 10))}`)
    await Bun.sleep(250)
  }
}

/** What {@link expectWaitAtStart} runs. */
export interface WaitAtStart {
  /** The setting under test. */
  setting: 'JOBS_URL' | 'DATABASE_URL'
  /** The service's URL: it is down when the check starts and {@link WaitAtStart.start} brings it up. */
  url: string
  /** A URL nobody answers on, with the password `s3cret` (it must never be printed). */
  nowhere: string
  /** How the start-up line begins: the setting and the URL with its password masked. */
  printed: string
  start: () => Promise<void>
  /** More checks on the server that waited, once it is ready. */
  whenReady?: (base: string) => Promise<void>
}

/**
 * The "down at start" case every restart test shares: a server started while its service is down
 * waits for it (default START_WAIT) and starts when it comes, ending cleanly on SIGTERM; a server
 * whose service never comes (START_WAIT=3s) exits 1 after about that long, with one line on
 * stderr naming the setting and masking the password.
 *
 * @example await redis.kill(); await expectWaitAtStart({ setting: 'JOBS_URL', url: redis.url(), nowhere: 'redis://:s3cret@127.0.0.1:1', printed: 'JOBS_URL redis://:***@127.0.0.1:', start: () => redis.start() })
 */
export async function expectWaitAtStart(w: WaitAtStart): Promise<void> {
  const tmp = tempDir('highperf-down-at-start-')
  const port = freePort()
  const late = spawnHighperf([process.execPath, 'run', 'src/main.ts'], { PORT: String(port), ...outageEnv(`${tmp.dir}/a`, { [w.setting]: w.url }) })
  const neverAt = performance.now()
  const never = spawnHighperf([process.execPath, 'run', 'src/main.ts'], { PORT: String(freePort()), ...outageEnv(`${tmp.dir}/b`, { [w.setting]: w.nowhere, START_WAIT: '3s' }) })
  const neverExited = never.proc.exited.then(() => performance.now() - neverAt)
  try {
    await Bun.sleep(2000)
    expect(late.proc.exitCode).toBeNull()
    await w.start()
    await waitHealthy(`http://127.0.0.1:${port}/readyz`, late.proc, 30_000)
    await w.whenReady?.(`http://127.0.0.1:${port}`)
    const { code, stderr } = await never.output()
    // START_WAIT=3s: it waited about that long, not the default 10 s (BullMQ on PostgreSQL stops
    // its own connect retries a second early, so that refusal is the error start reports), and
    // then exited: a queue never reached is not waited for at close (JOBS_URL on Redis exited
    // ~2 s after START_WAIT before, 5.4 s from spawn; now ~3.4 s).
    const waited = await neverExited
    expect(waited).toBeGreaterThan(1900)
    expect(waited).toBeLessThan(5000)
    expect(code).toBe(1)
    const lines = stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toStartWith(`highperf: cannot start: ${w.printed}`)
    expect(stderr).not.toContain('s3cret')
  } finally {
    late.proc.kill('SIGTERM')
    never.proc.kill('SIGKILL')
  }
  const out = await late.output()
  tmp.remove()
  expect(out.stderr).toBe('')
  expect(out.code).toBe(0)
}
