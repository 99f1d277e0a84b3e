/**
 * A pipeline stage's `map`: builds the stage's input from the previous stage's result by picking
 * fields, e.g. `{ "bytes": "$.bytes", "format": "$.format" }`, on top of the stage's own `input`
 * object (its constant fields). Without a `map` a stage gets the previous result's bytes untouched.
 *
 * Why a path grammar this small: a path is `$` then `.name` or `[index]` steps (at most
 * {@link MAX_PATH_STEPS}); no wildcards, filters, scripts or prototype walks (`own` properties
 * only, and the built input has no prototype, so `__proto__` is a plain key). It is checked at
 * submit ({@link mapProblem}) and cannot do anything but copy a value.
 *
 * Cost: applying a map parses the previous result on the main thread, so a result larger than
 * {@link MAX_MAPPED_RESULT_BYTES} fails the stage (`invalid_input`) rather than stall the loop
 * (measured: ~1 ms for a 1 MiB result of one long string, ~6 ms for 877 KiB of 20 000 small objects).
 *
 * @example
 * ```ts
 * applyMap('{"format":"gzip","bytes":"H4s…","inputBytes":5}', { format: '$.format', bytes: '$.bytes' }, '{"as":"text"}')
 * // -> '{"as":"text","format":"gzip","bytes":"H4s…"}'
 * ```
 */
import { AppError } from '../errors.ts'

/** Most fields one map may set. */
export const MAX_MAP_FIELDS = 32
/** Most `.name` / `[index]` steps in one path. */
export const MAX_PATH_STEPS = 16
/** Largest previous result (bytes) a map parses on the main thread. */
export const MAX_MAPPED_RESULT_BYTES = 1 << 20

/** A field a map sets: a plain identifier. */
export const MAP_FIELD_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,63}$'
/** A path into the previous result: `$`, then `.name` or `[index]` steps. */
export const MAP_PATH_PATTERN = '^\\$(?:\\.[A-Za-z_][A-Za-z0-9_]{0,63}|\\[(?:0|[1-9][0-9]{0,5})\\])*$'

const FIELD = new RegExp(MAP_FIELD_PATTERN)
const PATH = new RegExp(MAP_PATH_PATTERN)
const STEP = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g

/** A stage's map: input field → path into the previous result. */
export type StageMap = Record<string, string>

type Step = string | number

function stepsOf(path: string): Step[] {
  return [...path.slice(1).matchAll(STEP)].map((m) => (m[1] !== undefined ? m[1] : Number(m[2])))
}

/**
 * Why `map` cannot be used, or undefined when it can: field names and paths must match the
 * grammar, at most {@link MAX_MAP_FIELDS} fields of {@link MAX_PATH_STEPS} steps.
 *
 * @example mapProblem({ text: '$.digest' }) // undefined; mapProblem({ text: 'digest' }) // "map /text: …"
 */
export function mapProblem(map: StageMap): string | undefined {
  const entries = Object.entries(map)
  if (entries.length === 0) return 'map: give at least one field'
  if (entries.length > MAX_MAP_FIELDS) return `map: at most ${MAX_MAP_FIELDS} fields`
  for (const [field, path] of entries) {
    if (!FIELD.test(field)) return `map: '${field.slice(0, 70)}' is not a field name (letters, digits, _)`
    if (typeof path !== 'string' || !PATH.test(path)) return `map /${field}: '${String(path).slice(0, 70)}' is not a path like $.name or $.items[0]`
    if (stepsOf(path).length > MAX_PATH_STEPS) return `map /${field}: a path has at most ${MAX_PATH_STEPS} steps`
  }
  return undefined
}

function pick(value: unknown, steps: readonly Step[]): { found: true; value: unknown } | { found: false } {
  let at = value
  for (const step of steps) {
    if (typeof step === 'number') {
      if (!Array.isArray(at) || step >= at.length) return { found: false }
      at = at[step]
    } else {
      if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, step)) return { found: false }
      at = (at as Record<string, unknown>)[step]
    }
  }
  return { found: true, value: at }
}

const decoder = new TextDecoder()

/**
 * The next stage's input as JSON text: `base` (the stage's own input object, JSON text, or
 * undefined) with each `map` field set to the value at its path in `previous` (the previous
 * stage's result bytes). A path that is not in the result, or a result that is not JSON or is
 * too large, throws `invalid_input` naming the field.
 */
export function applyMap(previous: Uint8Array | string, map: StageMap, base?: string): string {
  const size = typeof previous === 'string' ? Buffer.byteLength(previous) : previous.byteLength
  if (size > MAX_MAPPED_RESULT_BYTES) {
    throw new AppError('invalid_input', `map: the previous result is ${size} bytes; a map reads at most ${MAX_MAPPED_RESULT_BYTES}`)
  }
  let result: unknown
  try {
    result = JSON.parse(typeof previous === 'string' ? previous : decoder.decode(previous))
  } catch {
    throw new AppError('invalid_input', 'map: the previous result is not JSON')
  }
  // No prototype: a field named __proto__ or constructor is an ordinary key.
  const input = Object.assign(Object.create(null) as Record<string, unknown>, base === undefined ? {} : (JSON.parse(base) as object))
  for (const [field, path] of Object.entries(map)) {
    const got = pick(result, stepsOf(path))
    if (!got.found) {
      throw new AppError('invalid_input', `map /${field}: ${path} is not in the previous result`, { details: [{ path: `/${field}`, message: `${path} is not in the previous result` }] })
    }
    Object.defineProperty(input, field, { value: got.value, enumerable: true, writable: true, configurable: true })
  }
  return JSON.stringify(input)
}
