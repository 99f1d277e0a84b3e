/**
 * Load from `wrk` (Debian package): one run, optionally with a Lua script and pinned to a CPU, and
 * its output parsed into req/s, latency percentiles and error counts.
 *
 * @example
 * ```ts
 * import { wrk } from '../lib/wrk.ts'
 * const r = await wrk('http://127.0.0.1:4000/healthz', { seconds: 2, connections: 64, latency: true, cpu: '1' })
 * console.log(r.rps, r.p50, r.p99)
 * ```
 */

/** What one wrk run reported. Latencies are in ms and NaN unless the run had `latency: true`. */
export interface WrkResult {
  rps: number
  p50: number
  p99: number
  /** Requests completed in the run. */
  requests: number
  /** Answers other than 2xx/3xx. */
  non2xx: number
  /** connect + read + write + timeout errors. */
  socketErrors: number
  /** wrk's stdout, for errors that need it. */
  output: string
}

/** Options of {@link wrk}. */
export interface WrkOptions {
  seconds: number
  connections: number
  /** wrk threads (default 1). */
  threads?: number
  /** A Lua script file passed as `-s` (see {@link luaPost}). */
  script?: string
  /** Pass `--latency` so the percentiles are printed and parsed (default false). */
  latency?: boolean
  /** Pin wrk to this CPU list with `taskset -c`. */
  cpu?: string
  /** wrk's stderr, where Lua scripts write: 'ignore' (default) or 'inherit'. */
  stderr?: 'ignore' | 'inherit'
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

/**
 * Parses wrk's stdout. Exported so a caller holding output from elsewhere can reuse it.
 *
 * @example
 * ```ts
 * parseWrk('...\n     50%  1.20ms\n     99%    3.40ms\n...Requests/sec:  51234.5\n').p50 // 1.2
 * ```
 */
export function parseWrk(out: string): WrkResult {
  const lat = (pct: string): number => {
    const m = out.match(new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm'))
    return m ? Number(m[1]) * (UNIT_MS[m[2] as string] ?? Number.NaN) : Number.NaN
  }
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/)
  return {
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? Number.NaN),
    p50: lat('50'),
    p99: lat('99'),
    requests: Number(out.match(/(\d+) requests in/)?.[1] ?? 0),
    non2xx: Number(out.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    output: out,
  }
}

/**
 * Runs `wrk -t<threads> -c<connections> -d<seconds>s [--latency] [-s script] url` and parses it.
 * rps is NaN when wrk printed no summary (e.g. it could not connect); check it if that matters.
 *
 * @example
 * ```ts
 * const r = await wrk(`${url}/jobs`, { seconds: 5, connections: 64, script: '/tmp/post.lua', stderr: 'inherit' })
 * if (r.non2xx > 0) console.error(`${r.non2xx} rejected`)
 * ```
 */
export async function wrk(url: string, opts: WrkOptions): Promise<WrkResult> {
  const cmd = [
    'wrk', `-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`,
    ...(opts.latency ? ['--latency'] : []),
    ...(opts.script ? ['-s', opts.script] : []),
    url,
  ]
  const proc = Bun.spawn(opts.cpu === undefined ? cmd : ['taskset', '-c', opts.cpu, ...cmd], { stdout: 'pipe', stderr: opts.stderr ?? 'ignore' })
  const out = await new Response(proc.stdout).text()
  await proc.exited
  return parseWrk(out)
}

/**
 * A wrk Lua script that POSTs `body` as JSON. With `reportBad`, it also prints the first three
 * non-2xx answers to stderr so a rejected run says why (wrk itself only counts them).
 *
 * @example
 * ```ts
 * writeFileSync(script, luaPost('{"n":1000000}'))
 * ```
 */
export function luaPost(body: string, opts: { reportBad?: boolean } = {}): string {
  const post = `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n`
  if (!opts.reportBad) return post
  return post +
    'local bad = 0\nresponse = function(status, headers, body)\n  if status >= 300 then\n    bad = bad + 1\n' +
    '    if bad <= 3 then io.stderr:write(status, " ", body, "\\n") end\n  end\nend\n'
}

/**
 * A wrk Lua script that sends `depth` GETs of the run's URL in one write (HTTP/1.1 pipelining,
 * as wrk's own scripts/pipeline.lua does). Each answer is still parsed and counted as a request.
 * Why: on a 2-core machine the load generator and the kernel's loopback work for one request per
 * round trip cost about as much CPU as a small server answer, so they hide what a second server
 * process adds; a pipelined load costs the generator and the kernel a fraction of that per request
 * (bench/cluster reports both shapes).
 *
 * @example
 * ```ts
 * writeFileSync(script, luaPipeline(16))
 * await wrk(`${url}/healthz`, { seconds: 3, connections: 64, script })
 * ```
 */
export function luaPipeline(depth: number): string {
  return `init = function(args)\n  local r = {}\n  for i = 1, ${Math.max(1, Math.trunc(depth))} do r[i] = wrk.format(nil) end\n  req = table.concat(r)\nend\nrequest = function() return req end\n`
}
