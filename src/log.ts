/**
 * The process logger: pino, JSON lines, level from `LOG_LEVEL`; `LOG_FORMAT=pretty` (the default
 * when stdout is a terminal) rewrites them for people (./log-pretty.ts).
 *
 * Secrets never reach a log line: the redact list below covers the places a request's credentials
 * could be copied into a log object, and the config's secrets are never logged at all.
 *
 * @example
 * ```ts
 * const log = createLogger(config)
 * log.info({ port: 3000 }, 'listening')
 * ```
 */
import { writeSync } from 'node:fs'
import pino, { type Logger, type DestinationStream } from 'pino'
import type { Config } from './config.ts'
import { prettify, resolveLogFormat } from './log-pretty.ts'

export type { Logger }

/** Paths pino blanks in every log object, whoever logs it. */
export const REDACT_PATHS = [
  'authorization', 'cookie', 'apiKey', 'token',
  '*.authorization', '*.cookie', '*.apiKey', '*.token', '*["x-api-key"]', '*["set-cookie"]',
  'headers.authorization', 'headers.cookie', 'req.headers.authorization', 'req.headers.cookie',
]

/**
 * Stdout for log lines: pino's asynchronous destination (synchronous writes would cost the event
 * loop; sonic-boom buffers them), prettified when `LOG_FORMAT` resolves to pretty for this stdout.
 *
 * @example pino({}, stdoutDestination(config))
 */
export function stdoutDestination(config: Partial<Pick<Config, 'logFormat'>>, isTTY = process.stdout.isTTY === true): DestinationStream {
  const dest = pino.destination({ fd: 1, sync: false })
  return resolveLogFormat(config.logFormat ?? 'json', isTTY) === 'pretty' ? prettify(dest, isTTY) : dest
}

/**
 * Creates the process logger. `destination` defaults to stdout ({@link stdoutDestination}).
 *
 * @example createLogger({ logLevel: 'info', logFormat: 'auto' })
 */
export function createLogger(config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'logFormat'>>, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? stdoutDestination(config),
  )
}

/** A logger that drops everything (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/**
 * Writes `line` (one line, newline added) to `fd` synchronously, for what must be out before
 * `process.exit`: a fatal start-up message. `process.exit` does not wait for asynchronous writes,
 * and Bun makes stdout/stderr pipes non-blocking, so a full pipe answers EAGAIN: retried for up
 * to `timeoutMs`, then given up (there is nowhere else to report it).
 *
 * @example writeLineSync(2, 'highperf: cannot start: DATA_DIR /data is a file, not a directory; …')
 */
export function writeLineSync(fd: number, line: string, timeoutMs = 2000): void {
  const bytes = Buffer.from(line.endsWith('\n') ? line : `${line}\n`)
  const until = performance.now() + timeoutMs
  let written = 0
  while (written < bytes.length) {
    try {
      written += writeSync(fd, bytes, written, bytes.length - written)
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EAGAIN' || performance.now() > until) return
      Bun.sleepSync(1)
    }
  }
}

/** The part of sonic-boom (pino's default destination) {@link endLogger} uses. */
interface EndableStream {
  end(): void
  once(event: 'close' | 'error', listener: () => void): unknown
  write(chunk: string): boolean
  fd?: unknown
}

function isEndable(stream: unknown): stream is EndableStream {
  const s = stream as Partial<EndableStream> | null
  return typeof s?.end === 'function' && typeof s.once === 'function' && typeof s.write === 'function' &&
    !(stream === process.stdout || stream === process.stderr)
}

/**
 * Writes out what the logger still holds and resolves once it is out (or after `timeoutMs`, should
 * nobody read the pipe), before `process.exit`. pino's `flush()` cannot serve: with the default
 * destination it returns while the last write is still in flight, and `process.exit` then drops
 * it (a fatal line was missing from 1-7 of 20 starts with piped output). Ending the sonic-boom
 * stream waits for that write. A line logged after this call (a timer firing before the exit) is
 * written synchronously rather than thrown at by the ended stream.
 *
 * @example await endLogger(log); process.exit(code)
 */
export async function endLogger(log: Logger, timeoutMs = 2000): Promise<void> {
  await endDestination((log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym], timeoutMs)
}

/**
 * {@link endLogger} for a destination itself (a `pino.destination()` the access log writes to):
 * ends it and resolves once its last write is out or after `timeoutMs`. Anything that is not an
 * endable stream (process.stdout itself) resolves at once.
 *
 * @example await endDestination(pino.destination({ fd: 1, sync: false }))
 */
export async function endDestination(stream: unknown, timeoutMs = 2000): Promise<void> {
  if (!isEndable(stream)) return
  const fd = stream.fd
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    const done = () => { clearTimeout(timer); resolve() }
    stream.once('close', done)
    stream.once('error', done)
    try {
      stream.end()
    } catch {
      done() // already ended
    }
    // Children loggers share this stream object, so this covers them too.
    if (typeof fd === 'number') stream.write = (chunk: string) => { writeLineSync(fd, chunk, 200); return true }
  })
}
