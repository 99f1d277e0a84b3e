/**
 * Access log: one JSON line per finished request through pino, at info level.
 *
 * A line names the method, route template, path (never the query string: it can carry API keys),
 * status, duration in ms, request id, trace id, client address and, when cheaply known, the body
 * sizes. Headers are never logged wholesale, so `Authorization`, cookies and API keys cannot
 * appear; the logger also carries pino's redact list (src/log.ts) as a second fence.
 *
 * `ACCESS_LOG` picks the sink: `stdout`, `off`, or a file path (pino.destination, buffered and
 * asynchronous: the event loop never waits on the disk). With `off`, or a `LOG_LEVEL` above info,
 * no hook is mounted at all.
 *
 * @example
 * ```ts
 * const access = createAccessLog(config)           // null when off
 * app.use(accessLogPlugin(access?.logger ?? null, config.trustProxy))
 * // {"level":30,"time":"…","pid":1,"method":"GET","route":"/users/:id","path":"/users/7","status":200,"durationMs":0.412,"requestId":"k3x9q2-1a","traceId":"4bf9…","client":"127.0.0.1","msg":"request"}
 * await access?.close()                            // flushes buffered lines
 * ```
 */
import { Elysia } from 'elysia'
import pino from 'pino'
import type { Config } from '../../config.ts'
import { createLogger, type Logger } from '../../log.ts'
import { clientAddress } from '../client-ip.ts'
import { finalStatus, requestTiming, type RequestOutcome } from '../metrics/index.ts'
import { requestIdOf } from '../request-id/index.ts'

/** An open access log and how to flush and close it. */
export interface AccessLog {
  readonly logger: Logger
  /** Flushes buffered lines and closes the file (stdout is flushed, not closed). */
  close(): Promise<void>
}

/** Opens the access log `config.accessLog` names; null when it is `off` or the level hides info lines. */
export function createAccessLog(config: Pick<Config, 'accessLog' | 'logLevel'>): AccessLog | null {
  if (config.accessLog === 'off' || config.accessLog === '') return null
  if ((pino.levels.values[config.logLevel] ?? Infinity) > pino.levels.values.info!) return null
  const toStdout = config.accessLog === 'stdout'
  const dest = toStdout
    ? pino.destination({ fd: 1, sync: false })
    : pino.destination({ dest: config.accessLog, sync: false, mkdir: true })
  const logger = createLogger(config, dest)
  let closed: Promise<void> | undefined
  return {
    logger,
    close() {
      closed ??= new Promise<void>((resolve) => {
        if (toStdout) {
          try { dest.flushSync() } catch { /* not opened yet: nothing buffered */ }
          resolve()
          return
        }
        dest.once('close', () => resolve())
        dest.once('error', () => resolve())
        dest.end()
      })
      return closed
    },
  }
}

function bytes(value: string | null): number | undefined {
  if (value === null) return undefined
  const n = Number(value)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

/** Elysia plugin: one access-log line per request; mounts nothing when `logger` is null. */
export function accessLogPlugin(logger: Logger | null, trustProxy: boolean) {
  const plugin = new Elysia({ name: 'highperf/access-log' }).use(requestTiming()).decorate('traceId', '').decorate('clientAddress', '')
  if (logger === null) return plugin
  return plugin
    // Taken while the request is live: Bun's requestIP() answers null once the response is sent.
    .onRequest((ctx) => { ctx.clientAddress = clientAddress(ctx.request, ctx.server, trustProxy) })
    .onAfterResponse({ as: 'global' }, (ctx) => {
    const outcome = ctx as RequestOutcome
    const response = outcome.response
    logger.info({
      method: ctx.request.method,
      route: ctx.route || 'unmatched',
      path: ctx.path,
      status: finalStatus(outcome),
      durationMs: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
      requestId: requestIdOf(ctx.set),
      traceId: ctx.traceId || undefined,
      client: ctx.clientAddress,
      bytesIn: bytes(ctx.request.headers.get('content-length')),
      bytesOut: response instanceof Response ? bytes(response.headers.get('content-length')) : undefined,
    }, 'request')
  })
}
