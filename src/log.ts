/**
 * The process logger: pino, JSON lines, level from `LOG_LEVEL`.
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
import pino, { type Logger, type DestinationStream } from 'pino'
import type { Config } from './config.ts'

export type { Logger }

/** Paths pino blanks in every log object, whoever logs it. */
export const REDACT_PATHS = [
  'authorization', 'cookie', 'apiKey', 'token',
  '*.authorization', '*.cookie', '*.apiKey', '*.token', '*["x-api-key"]', '*["set-cookie"]',
  'headers.authorization', 'headers.cookie', 'req.headers.authorization', 'req.headers.cookie',
]

/**
 * Creates the process logger. `destination` defaults to stdout (synchronous writes would cost the
 * event loop; pino's sonic-boom buffers them).
 */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  )
}

/** A logger that drops everything (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
