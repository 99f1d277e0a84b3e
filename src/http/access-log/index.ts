/**
 * Access log: one JSON line per finished request, batched in memory and appended to the file in
 * one write per 64 KiB (stdout: through pino's asynchronous destination); flushed at shutdown.
 * Lines reach the file within 250 ms (or as soon as 64 KiB are waiting).
 *
 * Log rotation: {@link AccessLog.reopen} (main.ts calls it on SIGUSR1, logrotate's usual contract)
 * writes what is buffered to the file still open, then opens the path again, so after logrotate
 * renamed the file every line is in the old file or the new one, none lost and none in both.
 * Lines written between the rename and the signal go to the renamed file, as with any server.
 *
 * A line names the method, route template, path (never the query string: it can carry API keys),
 * status, duration in ms, request id, trace id, client address and, when cheaply known, the body
 * sizes. Headers are never logged, so `Authorization`, cookies and API keys cannot appear.
 * The line has pino's shape (`level` 30, ISO `time`, `pid`, `msg`), so pino tooling reads it.
 *
 * Why the line is built here and not by `logger.info(obj)`: pino's object serialiser measured
 * 2–5 µs per line on this machine against ~0.5 µs for one `JSON.stringify` of the same fields
 * (bench/tracing, "+ access log"), a template string ({@link accessLine}) less again, and the
 * issue's target leaves the whole middleware stack about 2 µs per request. The level is checked once, when the log is opened: `ACCESS_LOG=off` or a
 * `LOG_LEVEL` above info adds no stage at all.
 *
 * @example
 * ```ts
 * const access = createAccessLog(config)           // null when off
 * if (access) stages.push(accessLogStage(access)) // src/app.ts
 * // {"level":30,"time":"…","pid":1,"msg":"request","method":"GET","route":"/users/:id","path":"/users/7","status":200,"durationMs":0.412,"requestId":"k3x9q2-1a","traceId":"4bf9…","client":"127.0.0.1"}
 * await access?.close()                            // flushes buffered lines
 * ```
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import pino from 'pino'
import { endDestination, stdoutDestination } from '../../log.ts'
import type { Config } from '../../config.ts'
import type { Stage } from '../front/index.ts'

/** The fields of one access-log line. */
export interface AccessEntry {
  method: string
  route: string
  path: string
  status: number
  durationMs: number
  requestId: string
  traceId: string | undefined
  client: string
  bytesIn: number | undefined
  bytesOut: number | undefined
}

/** An open access log. */
export interface AccessLog {
  /** Appends one line (buffered; never blocks on the disk). */
  write(entry: AccessEntry): void
  /**
   * Writes buffered lines to the file open now, then opens the configured path again (creating
   * it): after a rotation renamed the file, new lines go to a new file at the path. Returns false
   * when there is nothing to reopen (stdout) or the path cannot be opened (the old file is kept).
   */
  reopen(): boolean
  /** Flushes buffered lines and closes the file (stdout is written out, not closed). */
  close(): Promise<void>
}

// A string that can be put between quotes as it is: no quote, backslash, control or non-ASCII
// character (those go through JSON.stringify, which escapes them).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/

function quoted(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

/**
 * One access-log line, with the same keys, order and omissions (undefined fields are left out) as
 * `JSON.stringify` of the entry would give. Built as one template string instead: stringify walks
 * a fresh object per line (~8 % of CPU in an in-process profile of the full stack, bun --cpu-prof);
 * here only the path and other free-text fields are checked for characters needing escapes.
 *
 * @example accessLine('{"level":30,"time":"…","pid":1,', entry) // '{"level":30,…,"client":"127.0.0.1"}\n'
 */
export function accessLine(head: string, e: AccessEntry): string {
  const { method, route, path, requestId, traceId, client } = e
  const duration = Number.isFinite(e.durationMs) ? e.durationMs : null
  const trace = traceId === undefined ? '' : traceId
  // Fast path, nearly every line: no field needs an escape, so the line is ONE template literal
  // (JSC builds it flat in one go, where nested templates make a rope the file write must flatten).
  if (!NEEDS_ESCAPE.test(method) && !NEEDS_ESCAPE.test(route) && !NEEDS_ESCAPE.test(path) && !NEEDS_ESCAPE.test(requestId) && !NEEDS_ESCAPE.test(trace) && !NEEDS_ESCAPE.test(client)) {
    return `${head}"method":"${method}","route":"${route}","path":"${path}","status":${e.status},"durationMs":${duration},"requestId":"${requestId}"${traceId === undefined ? '' : `,"traceId":"${traceId}"`},"client":"${client}"${e.bytesIn === undefined ? '' : `,"bytesIn":${e.bytesIn}`}${e.bytesOut === undefined ? '' : `,"bytesOut":${e.bytesOut}`}}\n`
  }
  let line = `${head}"method":${quoted(method)},"route":${quoted(route)},"path":${quoted(path)},"status":${e.status},"durationMs":${duration},"requestId":${quoted(requestId)}`
  if (traceId !== undefined) line += `,"traceId":${quoted(traceId)}`
  line += `,"client":${quoted(client)}`
  if (e.bytesIn !== undefined) line += `,"bytesIn":${e.bytesIn}`
  if (e.bytesOut !== undefined) line += `,"bytesOut":${e.bytesOut}`
  return `${line}}\n`
}

/** Where the batched lines go: a file appended to, or stdout through pino's destination. */
interface Sink {
  write(chunk: string): void
  /** Opens the file's path again; false for stdout or when that fails (the old file stays). */
  reopen(): boolean
  close(): Promise<void>
}

// A file: one append-mode descriptor and one synchronous write per batch (64 KiB or 250 ms of
// lines: a page-cache copy, ~0.15–0.5 µs per line all told). Measured against the alternatives in
// a profile of the full stack under wrk (bun --cpu-prof on bench/http/profile.ts): node's
// asynchronous fs.write cost more on the event loop (its Buffer copy and completion ~15 % against
// ~10 % for writeSync), and pino.destination (sonic-boom) re-measured and re-copied every batch
// (Buffer.byteLength, Buffer.from), ~20 % of CPU in an in-process profile.
function fileSink(path: string): Sink {
  const openPath = (): number => {
    mkdirSync(dirname(path), { recursive: true })
    return openSync(path, 'a')
  }
  let fd = openPath()
  let open = true
  return {
    write(chunk) {
      if (!open) return
      try { writeSync(fd, chunk) } catch { /* disk full or file gone: this batch is lost, serving goes on */ }
    },
    reopen() {
      if (!open) return false
      let next: number
      try {
        next = openPath()
      } catch {
        return false // the directory vanished or turned read-only: keep writing to the old file
      }
      const old = fd
      fd = next
      closeSync(old)
      return true
    },
    async close() {
      if (!open) return
      open = false
      closeSync(fd)
    },
  }
}

// stdout may be a pipe whose reader stalls: an asynchronous destination, so serving never waits.
// Closing ends the stream and waits until its last write is out (endDestination, src/log.ts):
// `flushSync()` wrote what was queued but not a write already in flight, which a full pipe
// answers EAGAIN and sonic-boom retries later, after `process.exit` had dropped it.
function stdoutSink(config: Partial<Pick<Config, 'logFormat'>>): Sink {
  // Same stdout as the process log, so the same LOG_FORMAT (pretty on a terminal by default).
  const dest = stdoutDestination(config)
  return {
    write(chunk) { dest.write(chunk) },
    reopen: () => false,
    close: () => endDestination(dest),
  }
}

/** Opens the access log `config.accessLog` names; null when it is `off` or the level hides info lines. */
export function createAccessLog(config: Pick<Config, 'accessLog' | 'logLevel'> & Partial<Pick<Config, 'logFormat'>>): AccessLog | null {
  if (config.accessLog === 'off' || config.accessLog === '') return null
  if ((pino.levels.values[config.logLevel] ?? Infinity) > (pino.levels.values.info ?? 30)) return null
  const sink = config.accessLog === 'stdout' ? stdoutSink(config) : fileSink(config.accessLog)
  const pid = process.pid
  // Lines are gathered here and handed to the sink 64 KiB at a time (or every 250 ms): a write
  // costs a buffer copy and a syscall (file) or ~1.4 µs (sonic-boom), a string append a few ns.
  let pending = ''
  const drain = (): void => {
    if (pending === '') return
    const chunk = pending
    pending = ''
    sink.write(chunk)
  }
  const timer = setInterval(drain, 250)
  timer.unref()
  // The line's head (level, ISO time, pid, msg) is rebuilt once per millisecond, not per line:
  // under load many lines share it.
  let lastMs = 0
  let head = ''
  let closed: Promise<void> | undefined
  return {
    write(e) {
      if (closed !== undefined) return
      const now = Date.now()
      if (now !== lastMs) {
        lastMs = now
        head = `{"level":30,"time":"${new Date(now).toISOString()}","pid":${pid},"msg":"request",`
      }
      pending += accessLine(head, e)
      if (pending.length >= 65_536) drain()
    },
    reopen() {
      if (closed !== undefined) return false
      // Buffered lines belong to the file open now (logrotate has renamed it): written there first.
      drain()
      return sink.reopen()
    },
    close() {
      closed ??= (async () => {
        clearInterval(timer)
        drain()
        await sink.close()
      })()
      return closed
    },
  }
}

function bytes(value: string | null): number | undefined {
  if (value === null) return undefined
  const n = Number(value)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

/**
 * Stage: one access-log line per answered request (refusals and 404s included).
 *
 * @example createFront(app, [metricsStage(m), accessLogStage(createAccessLog(config)), ...], options)
 */
export function accessLogStage(log: AccessLog): Stage {
  return {
    name: 'access-log',
    after(state, response) {
      const request = state.request
      log.write({
        method: state.method,
        route: state.route,
        path: state.path,
        status: response.status,
        durationMs: Math.round((performance.now() - state.startedAt) * 1000) / 1000,
        requestId: state.requestId,
        traceId: state.traceId || undefined,
        // Still live here: the front runs `after` before handing the response to Bun.
        client: state.client(),
        bytesIn: bytes(request.headers.get('content-length')),
        bytesOut: bytes(response.headers.get('content-length')),
      })
    },
  }
}
