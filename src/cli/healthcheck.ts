/**
 * `highperf healthcheck`: asks a running server's `GET /readyz` and exits 0 when it answers 200,
 * 1 otherwise (connection refused, any other status, no answer within `--timeout`, a bad command
 * line). It prints exactly one line, on stdout when ready and on stderr otherwise. For Docker's
 * `HEALTHCHECK` (the image has no curl) and any other supervisor.
 *
 * Never exit 2: Docker reserves it ("do not use"). The URL defaults to the server running with the
 * same settings (`PORT`, `HOST`, TLS: src/cli/server-url.ts), so the probe in a container needs no
 * argument. Over TLS that default is loopback to this very server, whose certificate names its
 * public host and not 127.0.0.1, so its certificate is not verified there; a `--url` given by hand
 * is verified as usual.
 *
 * @example
 * ```sh
 * highperf healthcheck                          # ready: GET http://127.0.0.1:3000/readyz 200 in 3 ms
 * highperf healthcheck --url http://10.0.0.5:3000/readyz --timeout 500ms
 * ```
 */
import { ConfigError, loadConfig, parseDuration } from '../config.ts'
import { splitArgs, UsageError } from './args.ts'
import { stdio, type Output } from './output.ts'
import { localServerUrl } from './server-url.ts'

/** The default `--timeout`: well under Docker's own 30 s, long enough for a loaded server. */
export const DEFAULT_TIMEOUT_MS = 2000

/** `highperf healthcheck --help`. */
export const HEALTHCHECK_HELP = `Usage: highperf healthcheck [--url URL] [--timeout DURATION] [--setting value ...]

Probes a running highperf's readiness: exit 0 when GET /readyz answers 200, 1 otherwise
(refused, 503 while starting or draining, no answer in time). Prints one line.

  --url URL            what to probe [default: /readyz of the server these settings start:
                       http(s)://HOST:PORT, 0.0.0.0 -> 127.0.0.1; its certificate is not verified]
  --timeout DURATION   give up after this long, e.g. 500ms, 2s [default: 2s]
  --help               print this help

Every setting's flag (--port, --host…) and environment variable is read as the server reads it.
Dockerfile: HEALTHCHECK CMD ["highperf", "healthcheck"]`

const MAX_TIMEOUT_MS = 120_000

/** What one probe found. */
interface Probe {
  ready: boolean
  text: string
}

/** A failed fetch as a few words: "connection refused", "no answer within 2000 ms"… */
function failure(err: unknown, timeoutMs: number, timedOut: boolean): string {
  if (timedOut) return `no answer within ${timeoutMs} ms`
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ConnectionRefused' || code === 'ECONNREFUSED') return 'connection refused (is the server running there?)'
  const message = err instanceof Error ? err.message : String(err)
  return typeof code === 'string' && code !== '' ? `${code}: ${message}` : message
}

async function probe(url: string, timeoutMs: number, verifyTls: boolean): Promise<Probe> {
  const started = performance.now()
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; controller.abort() }, timeoutMs)
  const ms = () => `${Math.round(performance.now() - started)} ms`
  try {
    const res = await fetch(url, { signal: controller.signal, redirect: 'manual', headers: { accept: 'application/json' }, tls: { rejectUnauthorized: verifyTls } })
    // The body counts against the timeout too; only its start matters (an error code).
    const body = (await res.text()).slice(0, 4096)
    if (res.status === 200) return { ready: true, text: `ready: GET ${url} 200 in ${ms()}` }
    let code = ''
    try { code = String((JSON.parse(body) as { error?: { code?: unknown } }).error?.code ?? '') } catch { /* not our envelope */ }
    return { ready: false, text: `not ready: GET ${url} ${res.status}${code ? ` ${code}` : ''} in ${ms()}` }
  } catch (err) {
    return { ready: false, text: `not ready: GET ${url} ${failure(err, timeoutMs, timedOut)}` }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Runs `highperf healthcheck` with `argv` (after the subcommand's name) and `env`; resolves with
 * the exit code: 0 ready, 1 anything else.
 *
 * @example process.exit(await healthcheck(['--timeout', '1s'], process.env))
 */
export async function healthcheck(argv: readonly string[], env: Record<string, string | undefined>, out: Output = stdio()): Promise<number> {
  let url: string
  let timeoutMs = DEFAULT_TIMEOUT_MS
  let verifyTls = true
  try {
    const { own, rest } = splitArgs(argv, { url: 'string', timeout: 'string', help: 'boolean' })
    if (own.help === true) {
      out.text(HEALTHCHECK_HELP)
      return 0
    }
    if (typeof own.timeout === 'string') {
      const t = parseDuration(own.timeout)
      if (t === undefined || t <= 0 || t > MAX_TIMEOUT_MS) throw new UsageError(`--timeout is ${JSON.stringify(own.timeout)}; it accepts a duration from 1ms to 2m, e.g. 500ms or 2s`)
      timeoutMs = t
    }
    if (typeof own.url === 'string') {
      let u: URL
      try { u = new URL(own.url) } catch { throw new UsageError(`--url is ${JSON.stringify(own.url)}; it accepts an http:// or https:// URL`) }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url is ${JSON.stringify(own.url)}; it accepts an http:// or https:// URL`)
      url = u.href
      // Settings still go through validation: a typo in a flag is reported, not ignored.
      if (rest.length > 0) loadConfig(rest, env)
    } else {
      const r = loadConfig(rest, env)
      if (r.kind === 'help' || r.kind === 'version') throw new UsageError('--help and --version are flags of highperf itself; use highperf healthcheck --help')
      url = `${localServerUrl(r.config)}/readyz`
      verifyTls = false
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      out.error(`not ready: highperf healthcheck: ${err.message}`)
      return 1
    }
    throw err
  }
  const result = await probe(url, timeoutMs, verifyTls)
  if (result.ready) out.line(result.text)
  else out.error(result.text)
  return result.ready ? 0 : 1
}
