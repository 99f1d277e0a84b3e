/**
 * A task's input schema as an HTTP client can use it: every size bound clamped to what a request
 * body of `MAX_BODY_SIZE` bytes can hold.
 *
 * Why: the data tasks accept 8 MiB payloads (`MAX_PAYLOAD_BYTES`), a bound that matters for
 * inputs that never cross HTTP (a pipeline stage's input is the previous stage's result), but a
 * client's input always arrives in a body of at most `MAX_BODY_SIZE` (256 KiB by default). A
 * catalogue saying `maxLength: 8388608` promised clients what the server answers with a 413.
 * `GET /tasks` reports these clamped schemas, so what it says is what a client can send; the
 * workers keep checking their own bounds.
 *
 * Bounds: a JSON string of n characters takes at least n + 2 bytes (its quotes), an array of n
 * items at least 2n + 1 (one byte per item, commas, brackets).
 *
 * @example
 * ```ts
 * clientSchema({ type: 'string', maxLength: 8_388_608 }, 1_048_576) // { type: 'string', maxLength: 1_048_574 }
 * ```
 */

const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions'])
const SCHEMA_LISTS = new Set(['anyOf', 'allOf', 'oneOf', 'prefixItems'])
const SCHEMAS = new Set(['items', 'additionalProperties', 'not', 'contains', 'if', 'then', 'else'])

/** `schema` (a task's input JSON Schema) with `maxLength` and `maxItems` no larger than a `maxBodySize`-byte body allows. */
export function clientSchema(schema: unknown, maxBodySize: number): unknown {
  const maxLength = Math.max(0, maxBodySize - 2)
  const maxItems = Math.max(0, Math.floor((maxBodySize - 1) / 2))
  // Walks schema keywords only: examples, defaults and enums are data and stay as they are, and a
  // property that happens to be named `maxLength` is a schema, not a bound.
  const visit = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(node)) {
      if (key === 'maxLength' && typeof value === 'number') out[key] = Math.min(value, maxLength)
      else if (key === 'maxItems' && typeof value === 'number') out[key] = Math.min(value, maxItems)
      else if (SCHEMAS.has(key)) out[key] = visit(value)
      else if (SCHEMA_LISTS.has(key) && Array.isArray(value)) out[key] = value.map(visit)
      else if (SCHEMA_MAPS.has(key) && value !== null && typeof value === 'object') {
        out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, visit(sub)]))
      } else out[key] = value
    }
    return out
  }
  return visit(schema)
}
