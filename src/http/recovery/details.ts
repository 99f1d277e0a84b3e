/**
 * The `details` of a 422: the failing paths of a schema check, at most {@link MAX_DETAILS}, with
 * TypeBox's messages ("Expected string") and never the value that failed.
 *
 * Why not Elysia's own list (`ValidationError.all`): it maps every error through a summary that
 * interpolates the value (`but found: ${value}`), which stringifies whole subtrees (a 1 MB body
 * costs tens of ms, a deeply nested array overflows the stack: a 500), echoes client data back,
 * and it recomputes the error list each time it is read. Here the error iterator is lazy and is
 * stopped after {@link MAX_DETAILS} entries, so building the list costs the same for a body with
 * 20 wrong items as for one with 100 000. The list also ends at a string longer than
 * {@link LONG_STRING} characters that failed its `maxLength`, before the iterator regex-tests it.
 *
 * @example
 * ```ts
 * const details = schemaErrors(check.Errors(body)) // [{ path: '/name', message: 'Expected string' }]
 * ```
 */

import { ValueErrorType } from '@sinclair/typebox/errors'

/** One failing field of a 422. */
export interface FieldError {
  path: string
  message: string
}

/** The most entries a 422 lists; the first is also named in the message. */
export const MAX_DETAILS = 20

/**
 * A string longer than this that failed its `maxLength` ends the list (see {@link schemaErrors}).
 * Below it, the checks that would follow cost microseconds.
 */
export const LONG_STRING = 4096

/** What this module reads of a TypeBox `ValueError`. */
export interface ValueErrorLike {
  path?: string
  message?: string
  /** TypeBox's `ValueErrorType`. */
  type?: number
  value?: unknown
  /** A union's failure per variant (TypeBox's lazy `ValueErrorIterator`s). */
  errors?: ReadonlyArray<{ First(): ValueErrorLike | undefined }>
  /** The schema that failed: an enum's allowed values are read from it. */
  schema?: unknown
}

/**
 * The allowed values of an enum-like schema (a union of literals, TypeBox's `t.Union([t.Literal…])`
 * and `t.UnionEnum`, or a JSON Schema `enum`), or undefined for any other schema.
 */
function enumValues(schema: unknown): unknown[] | undefined {
  if (schema === null || typeof schema !== 'object') return undefined
  const s = schema as { anyOf?: unknown; enum?: unknown }
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum
  if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) return undefined
  const values: unknown[] = []
  for (const v of s.anyOf) {
    if (v === null || typeof v !== 'object' || !('const' in v)) return undefined
    values.push((v as { const: unknown }).const)
  }
  return values
}

/** The field a path names, for a sentence: `/state` → `state`, `/items/3/fuel` → `items/3/fuel`, `` → `value`. */
const fieldOf = (path: string): string => path.replace(/^\//, '').replaceAll('~1', '/').replaceAll('~0', '~') || 'value'

/**
 * A union's "Expected union value" says nothing useful; its variants' own failures at the same
 * path do: Elysia's `t.Integer` is numeric-string-or-integer, so 1.5 gives "Expected string or
 * integer". One step of at most four lazy iterators.
 */
function messageOf(e: ValueErrorLike): string {
  // An enum names every allowed value once, as a sentence (not TypeBox's "Expected 'a' or 'b'",
  // which is cut after four variants here, nor Elysia's "should be one of: 'string', 'string'").
  // A schema may word its own failure (`x-message`, an OpenAPI extension: documented with the
  // schema, ignored by validators): a digit pattern says "an integer from 1 to 100", not its regex.
  const custom = e.schema !== null && typeof e.schema === 'object' ? (e.schema as Record<string, unknown>)['x-message'] : undefined
  // Only for a value of the schema's own type: an array where a string belongs is "Expected
  // string", not the string's pattern wording. And only for the pattern's own failure: a name of
  // 101 characters, or an empty input, was told "must not contain U+0000 (NUL)" (STORED_TEXT's
  // wording) instead of TypeBox's length message.
  const ownType = (e.schema as { type?: unknown } | undefined)?.type !== 'string' || typeof e.value === 'string'
  const ownFailure = e.type === undefined || e.type === ValueErrorType.StringPattern
  if (typeof custom === 'string' && ownType && ownFailure) return custom
  const values = enumValues(e.schema)
  if (values !== undefined) return `${fieldOf(e.path ?? '')} must be one of ${values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`
  const fallback = e.message || 'invalid'
  if (e.errors === undefined) return fallback
  const parts: string[] = []
  for (const variant of e.errors.slice(0, 4)) {
    const first = variant.First()
    if (first?.message === undefined || first.path !== e.path) return fallback
    const part = parts.length === 0 ? first.message : first.message.replace(/^Expected /, '')
    if (!parts.includes(part)) parts.push(part)
  }
  return parts.length === 0 ? fallback : parts.join(' or ')
}

/**
 * The first `max` errors of `errors` as `{path, message}`; the iterator is not consumed further.
 *
 * @example schemaErrors([{ path: '/a', message: 'Expected string' }]) // [{ path: '/a', message: 'Expected string' }]
 */
export function schemaErrors(errors: Iterable<ValueErrorLike>, max = MAX_DETAILS): FieldError[] {
  const out: FieldError[] = []
  if (max <= 0) return out
  for (const e of errors) {
    out.push({ path: e.path || '/', message: messageOf(e) })
    if (out.length >= max) break
    // TypeBox goes on to run the string's `pattern` and `format` regexes after its maxLength
    // failed (the check itself stops there): Elysia's email regex takes ~0.7 µs a character on a
    // crafted string, 288 ms for 800 KB. A client needs no more than "too long" about such a value.
    if (e.type === ValueErrorType.StringMaxLength && typeof e.value === 'string' && e.value.length > LONG_STRING) break
  }
  return out
}

/**
 * The message of a 422 naming the first failing field: `body /name: Expected string`.
 *
 * @example validationMessage('query', [{ path: '/limit', message: 'Expected integer' }]) // 'query /limit: Expected integer'
 * @example validationMessage('query', [{ path: '/state', message: 'state must be one of a, b' }]) // 'query: state must be one of a, b'
 */
export function validationMessage(where: string, details: readonly FieldError[]): string {
  const first = details[0]
  if (first === undefined) return `The ${where} does not match the schema`
  // A message that names its field already (an enum's sentence) is not prefixed with the path again.
  if (first.message.startsWith(`${fieldOf(first.path)} `)) return `${where}: ${first.message}`
  return `${where}${first.path === '/' ? '' : ` ${first.path}`}: ${first.message}`
}
