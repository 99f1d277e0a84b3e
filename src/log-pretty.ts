/**
 * `LOG_FORMAT=pretty`: pino's JSON lines rewritten for a person at a terminal, e.g.
 *
 *     13:04:32.123 INFO  listening port=3000 host=0.0.0.0
 *     13:04:33.007 INFO  GET /users/1 → 200 1.2ms  requestId=k3x9q2-1a client=127.0.0.1
 *     13:04:34.500 ERROR task failed  task=primes
 *         Error: boom
 *             at …
 *
 * Why not pino-pretty: it is another dependency tree (colorette, dateformat, fast-copy, …) for a
 * few lines of formatting, and its usual wiring (a pino transport) runs in a worker thread loaded
 * from a file path at run time, which a `bun build --compile` single binary does not ship. This
 * formatter runs in-process on the lines pino already wrote, so the JSON format is untouched and
 * its cost (one JSON.parse per line) is paid only when someone asked for pretty output.
 *
 * @example
 * ```ts
 * const dest = prettify(pino.destination({ fd: 1, sync: false }), true)
 * pino({}, dest).info({ port: 3000 }, 'listening') // "12:00:00.000 INFO  listening port=3000"
 * ```
 */

/** Which format a `LOG_FORMAT` setting means here: `auto` is pretty on a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty'

/**
 * The format `setting` resolves to for an output that is (`isTTY`) or is not a terminal.
 *
 * @example resolveLogFormat('auto', false) // 'json' (piped to a collector)
 */
export function resolveLogFormat(setting: LogFormat, isTTY: boolean): 'json' | 'pretty' {
  return setting === 'auto' ? (isTTY ? 'pretty' : 'json') : setting
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[41;97m'],
}
const RESET = '\x1b[0m'
const DIM = '\x1b[2m'
// Keys every line has, shown in the line's head (or not at all) rather than as key=value.
const HEAD_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'err'])
// The access log's own keys, which its head already shows.
const ACCESS_KEYS = new Set(['method', 'route', 'path', 'status', 'durationMs'])

// Terminal control characters in a logged value (a request path, a header) must not reach the
// terminal as escapes: they are shown as JSON escapes.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

function value(v: unknown): string {
  if (typeof v === 'string') return CONTROL.test(v) || v === '' || v.includes(' ') ? JSON.stringify(v) : v
  return JSON.stringify(v) ?? String(v)
}

function clock(time: unknown): string {
  const d = typeof time === 'number' ? new Date(time) : typeof time === 'string' ? new Date(time) : undefined
  return d && !Number.isNaN(d.getTime()) ? d.toISOString().slice(11, 23) : '--:--:--.---'
}

function text(s: string): string {
  return CONTROL.test(s) ? JSON.stringify(s).slice(1, -1) : s
}

/**
 * One pino JSON line as a readable line (no trailing newline). A line that is not a JSON object
 * is returned as it came, control characters escaped.
 *
 * @example prettyLine('{"level":30,"time":"2026-01-01T12:00:00.000Z","msg":"listening","port":3000}', false)
 * // '12:00:00.000 INFO  listening port=3000'
 */
export function prettyLine(line: string, color: boolean): string {
  let entry: unknown
  try {
    entry = JSON.parse(line)
  } catch {
    return text(line)
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return text(line)
  const e = entry as Record<string, unknown>
  const [name, tint] = LEVELS[typeof e.level === 'number' ? e.level : 30] ?? ['LOG  ', '']
  const paint = (s: string, c: string) => (color && c ? `${c}${s}${RESET}` : s)
  const isAccess = e.msg === 'request' && typeof e.method === 'string' && typeof e.status === 'number'
  let msg = typeof e.msg === 'string' ? text(e.msg) : ''
  if (isAccess) {
    const status = e.status as number
    const statusTint = status >= 500 ? '\x1b[31m' : status >= 400 ? '\x1b[33m' : '\x1b[32m'
    const ms = typeof e.durationMs === 'number' ? `${e.durationMs < 10 ? e.durationMs.toFixed(1) : Math.round(e.durationMs)}ms` : '-'
    msg = `${text(e.method as string)} ${text(String(e.path ?? e.route ?? ''))} → ${paint(String(status), statusTint)} ${ms}`
  }
  const fields = Object.entries(e)
    .filter(([k, v]) => !HEAD_KEYS.has(k) && !(isAccess && ACCESS_KEYS.has(k)) && v !== undefined)
    .map(([k, v]) => `${text(k)}=${value(v)}`)
  let out = `${paint(clock(e.time), DIM)} ${paint(name, tint)} ${msg}${fields.length ? ` ${paint(fields.join(' '), DIM)}` : ''}`
  const err = e.err as { stack?: unknown; message?: unknown } | undefined
  if (err && typeof err === 'object') {
    const stack = typeof err.stack === 'string' ? err.stack : typeof err.message === 'string' ? err.message : JSON.stringify(err)
    out += `\n${stack.split('\n').map((l) => `    ${text(l)}`).join('\n')}`
  }
  return out
}

/**
 * Rewrites, in place, what `stream.write` receives (one or more JSON lines per chunk) into
 * {@link prettyLine}s, and returns the stream: its `end`, `flush` and events are untouched, so
 * the logger's shutdown (src/log.ts endLogger) works the same.
 *
 * @example const dest = prettify(pino.destination({ fd: 1, sync: false }), process.stdout.isTTY)
 */
export function prettify<S extends { write(chunk: string): boolean }>(stream: S, color: boolean): S {
  const write = stream.write.bind(stream)
  stream.write = (chunk: string): boolean => {
    let out = ''
    for (const line of chunk.split('\n')) if (line !== '') out += `${prettyLine(line, color)}\n`
    return write(out)
  }
  return stream
}
