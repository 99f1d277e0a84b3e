/**
 * How a subcommand talks: whole lines written synchronously (the process exits right after, and
 * `process.exit` drops asynchronous writes to a pipe: src/log.ts writeLineSync), to injectable
 * sinks so tests can read them.
 *
 * @example
 * ```ts
 * const out = stdio()
 * out.line('ready: …')
 * out.error('not ready: …')
 * ```
 */
import { writeLineSync } from '../log.ts'

/** Where a subcommand writes its lines. */
export interface Output {
  /** One line on stdout. */
  line(text: string): void
  /** One line on stderr. */
  error(text: string): void
  /** Text of several lines on stdout, as it is (help). */
  text(text: string): void
}

/** The process's stdout and stderr, written synchronously. */
export function stdio(): Output {
  return {
    line: (text) => writeLineSync(1, oneLine(text)),
    error: (text) => writeLineSync(2, oneLine(text)),
    text: (text) => writeLineSync(1, text),
  }
}

/** `text` with every line break flattened: a message naming a path or a server's answer stays one line. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ')
}
