/**
 * Bounded JSON: every JSON text a client controls is parsed through {@link parseBoundedJson},
 * which refuses a document nested deeper than {@link MAX_JSON_DEPTH} before any recursive work
 * touches it.
 *
 * Why: everything after `JSON.parse` walks values recursively (TypeBox checks and error
 * iterators, Elysia's validation messages, `JSON.stringify`, `${value}` on arrays), so depth is a
 * cost multiplier and, past ~10 000 levels, a `RangeError` (a 500). A 40 KB body of `[` × 20 000
 * held the event loop for 5–12 s (issue 11). The check is one linear scan that counts brackets
 * outside strings; strings are skipped with `indexOf`, so text-heavy bodies cost almost nothing
 * (bench: ~1–3 ms per MiB of dense structure, ~0 for long strings; `JSON.parse` of the same MiB
 * costs 8–26 ms).
 *
 * This module imports only the error registry: the pool's workers use it to parse task inputs.
 *
 * @example
 * ```ts
 * parseBoundedJson('{"a":[1,2]}')        // { a: [1, 2] }
 * parseBoundedJson('['.repeat(65) + ']'.repeat(65)) // throws AppError('too_deep'), 422
 * ```
 */
import { AppError } from '../errors.ts'

/**
 * Deepest nesting of arrays and objects accepted in a JSON document, envelope included
 * (`{"items":[{"input":…}]}` spends 3 levels before a batch item's input starts).
 *
 * 64 is the default of System.Text.Json and Newtonsoft.Json; highperf's own documents need 4
 * levels, and 60 levels left for a task's input is far past what real data uses (GeoJSON ~6,
 * JSON Schema documents ~15). 128 (serde_json's limit) would only double how much work a hostile
 * body can multiply.
 */
export const MAX_JSON_DEPTH = 64

const QUOTE = 34
const BACKSLASH = 92
// '[' (0x5B) and '{' (0x7B) differ only in bit 5, as do ']' (0x5D) and '}' (0x7D): clearing that
// bit tests each pair with one comparison (~1.3 instead of ~2 ms per MiB of numbers).
const OPEN = 0x5b
const CLOSE = 0x5d
const FOLD = 0xffdf

/**
 * True when `text` opens more than `max` arrays/objects at once, counting only brackets outside
 * strings. Linear in `text.length` and stops at the first level past `max`. On valid JSON the
 * answer is exact; on invalid JSON it may be anything, which is fine: `JSON.parse` rejects that
 * text anyway, without nesting deeper than the brackets counted here.
 *
 * @example jsonDepthExceeds('[[["[[[["]]]', 3) // false: the brackets in the string do not count
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0
  const n = text.length
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    const folded = c & FOLD
    if (folded === OPEN) {
      if (++depth > max) return true
    } else if (folded === CLOSE) {
      depth--
    } else if (c === QUOTE) {
      // Jump to the closing quote: the next '"' preceded by an even run of backslashes.
      for (;;) {
        const q = text.indexOf('"', i + 1)
        if (q === -1) return false
        let b = q - 1
        while (text.charCodeAt(b) === BACKSLASH) b--
        i = q
        if ((q - 1 - b) % 2 === 0) break
      }
    }
  }
  return false
}

/**
 * The error for a document nested deeper than `max`: 422 `too_deep`, naming the limit.
 *
 * @example throw tooDeep(64, 'the request body') // "JSON nesting deeper than 64 levels in the request body"
 */
export function tooDeep(max: number, where?: string): AppError {
  return new AppError('too_deep', `JSON nesting deeper than ${max} levels${where === undefined ? '' : ` in ${where}`}`, {
    details: [{ path: '/', message: `nested deeper than ${max} levels` }],
  })
}

/**
 * `JSON.parse(text)` once {@link jsonDepthExceeds} has cleared it. Throws `AppError('too_deep')`
 * for a document deeper than `max`, and `JSON.parse`'s `SyntaxError` for text that is not JSON
 * (callers say which input it was). `where` names the input in the message.
 *
 * @example parseBoundedJson('[[1]]', 1) // throws AppError too_deep
 */
export function parseBoundedJson(text: string, max = MAX_JSON_DEPTH, where?: string): unknown {
  if (jsonDepthExceeds(text, max)) throw tooDeep(max, where)
  return JSON.parse(text)
}
