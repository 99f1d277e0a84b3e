/**
 * Test support for the fuzz test: hostile inputs derived from a JSON Schema (the OpenAPI
 * document's parameter and body schemas, the task schemas of `GET /tasks`).
 *
 * Values are produced as JSON text fragments, not as values: that way a fragment can be deeper
 * than any value this process could stringify, or a number JSON.parse turns into Infinity
 * (`1e400`), and a body is assembled by splicing fragments into a valid sample's JSON.
 *
 * @example
 * ```ts
 * const body = sampleOf(schema)                  // a value the schema accepts, as far as can be told
 * for (const variant of bodyVariants(schema)) {} // { label, json } mutations of that sample
 * ```
 */

/** The JSON Schema keywords this generator reads. */
export interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  patternProperties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
  anyOf?: JsonSchema[]
  enum?: unknown[]
  const?: unknown
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  pattern?: string
  format?: string
  examples?: unknown[]
  default?: unknown
}

/** One mutated input: what it is (for the failure message) and its JSON text. */
export interface Variant {
  label: string
  json: string
}

const deepArray = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels)
const deepObject = (levels: number): string => '{"a":'.repeat(levels) + '0' + '}'.repeat(levels)

/**
 * Fragments hostile to any schema: wrong types, numbers past double range, lone surrogates,
 * prototype keys, and nesting just past the limit, far past it and deep enough to overflow a
 * recursive walker.
 */
export const GENERIC_FRAGMENTS: readonly string[] = [
  'null', 'true', '0', '-0', '-1', '1.5', '1e400', '-1e400', '1e-400', '9007199254740993', '-9223372036854775809',
  '""', '"NaN"', '"Infinity"', '"1.5"', '"-1"', '" 1"', `"${'x'.repeat(70_000)}"`, '"\\u0000"', '"\\ud800"', '"\\u202e\\ufeff"',
  '"../../../etc/passwd"', '"%FF%FE"', '[]', '{}', '[null]', '[{}]', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}',
  deepArray(65), deepArray(20_000), deepArray(60_000), deepObject(2_000), `[${deepArray(63)}]`,
]

/** Schema-aware boundary fragments: one past each limit, the limits themselves, wrong members. */
export function boundaryFragments(schema: JsonSchema): string[] {
  const out: string[] = []
  const num = (n: number) => (Number.isFinite(n) ? String(n) : 'null')
  if (schema.minimum !== undefined) out.push(num(schema.minimum - 1), num(schema.minimum), JSON.stringify(String(schema.minimum)))
  if (schema.maximum !== undefined) out.push(num(schema.maximum + 1), num(schema.maximum), num(schema.maximum * 10 + 0.5))
  if (typesOf(schema).includes('integer')) out.push(num((schema.minimum ?? 0) + 0.5), '1.0000000000000002')
  if (schema.maxLength !== undefined && schema.maxLength <= 200_000) {
    out.push(JSON.stringify('y'.repeat(schema.maxLength + 1)), JSON.stringify('é'.repeat(schema.maxLength)))
  }
  if (schema.minLength !== undefined && schema.minLength > 0) out.push(JSON.stringify('z'.repeat(schema.minLength - 1)))
  if (schema.pattern !== undefined) out.push('"no match \\n ✓"', '"1\\n"')
  if (schema.format !== undefined) out.push('"not-a-' + schema.format + '"', '"9999-99-99T99:99:99Z"', `"${'a'.repeat(300)}@${'b'.repeat(300)}.c"`)
  if (schema.enum !== undefined || schema.const !== undefined || schema.anyOf?.some((s) => s.const !== undefined)) out.push('"not-a-member"', '"QUEUED"')
  if (schema.maxItems !== undefined && schema.maxItems <= 1000 && schema.items) {
    out.push(`[${Array.from({ length: schema.maxItems + 1 }, () => JSON.stringify(sampleOf(schema.items as JsonSchema))).join(',')}]`)
  }
  if (schema.minItems !== undefined && schema.minItems > 0) out.push('[]')
  if (typesOf(schema).includes('array') && schema.maxItems === undefined && schema.items) {
    // No declared bound (BATCH_LIMIT is a server setting): one more than the default limit.
    out.push(`[${Array.from({ length: 1001 }, () => JSON.stringify(sampleOf(schema.items as JsonSchema))).join(',')}]`)
  }
  return out
}

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type
  if (schema.type !== undefined) return [schema.type]
  return (schema.anyOf ?? []).flatMap(typesOf)
}

/**
 * A value `schema` accepts, as far as a generator can tell: its example, default or const, else
 * one built from its type (objects get their required properties).
 *
 * @example sampleOf({ type: 'object', required: ['n'], properties: { n: { type: 'integer', minimum: 2 } } }) // { n: 2 }
 */
export function sampleOf(schema: JsonSchema): unknown {
  if (schema.examples !== undefined && schema.examples.length > 0) return schema.examples[0]
  if (schema.default !== undefined) return schema.default
  if (schema.const !== undefined) return schema.const
  if (schema.enum !== undefined && schema.enum.length > 0) return schema.enum[0]
  if (schema.anyOf !== undefined && schema.anyOf.length > 0) {
    // The last variant: Elysia's numeric types put the numeric-string one first.
    return sampleOf(schema.anyOf[schema.anyOf.length - 1] as JsonSchema)
  }
  const type = typesOf(schema)[0]
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const key of schema.required ?? []) out[key] = sampleOf(schema.properties?.[key] ?? {})
      return out
    }
    case 'array': return schema.minItems ? Array.from({ length: schema.minItems }, () => sampleOf(schema.items ?? {})) : []
    case 'string': return schema.format === 'email' ? 'fuzz@example.com' : schema.format === 'date-time' ? new Date(0).toISOString() : 'a'.repeat(Math.max(1, schema.minLength ?? 1))
    case 'integer':
    case 'number': return Math.max(schema.minimum ?? 0, Math.min(schema.maximum ?? 1, 1))
    case 'boolean': return true
    default: return {}
  }
}

/**
 * Every mutation of `sample` (default: {@link sampleOf} the schema): the whole value replaced by each generic and boundary
 * fragment; for an object, each property (to `depth` levels down) replaced the same way, each
 * required property missing, and an unknown property added.
 *
 * @example bodyVariants({ type: 'object', properties: { a: { type: 'string' } } }).length // > 40
 */
export function bodyVariants(schema: JsonSchema, depth = 2, sample: unknown = sampleOf(schema)): Variant[] {
  const out: Variant[] = []
  for (const f of [...GENERIC_FRAGMENTS, ...boundaryFragments(schema)]) out.push({ label: `whole=${short(f)}`, json: f })
  const walk = (sch: JsonSchema, value: unknown, splice: (fragment: string) => string, where: string, level: number): void => {
    if (level > depth || value === null || typeof value !== 'object' || Array.isArray(value)) return
    const obj = value as Record<string, unknown>
    for (const [key, prop] of Object.entries(sch.properties ?? {})) {
      const at = `${where}/${key}`
      const fragments = level === 1 ? [...GENERIC_FRAGMENTS, ...boundaryFragments(prop)] : [...GENERIC_FRAGMENTS.slice(0, 12), ...boundaryFragments(prop)]
      for (const f of fragments) out.push({ label: `${at}=${short(f)}`, json: splice(spliceKey(obj, key, f)) })
      const child = obj[key] ?? sampleOf(prop)
      if (child !== null && typeof child === 'object' && !Array.isArray(child)) {
        walk(prop, child, (inner) => splice(spliceKey(obj, key, inner)), at, level + 1)
      }
    }
    for (const key of sch.required ?? []) {
      const { [key]: _gone, ...rest } = obj
      out.push({ label: `${where}/${key} missing`, json: splice(JSON.stringify(rest)) })
    }
    out.push({ label: `${where}/unknown property`, json: splice(spliceKey(obj, 'fuzzUnknown', '1')) })
    out.push({ label: `${where}/__proto__ key`, json: splice(spliceKey(obj, '__proto__', '{"polluted":1,"task":"echo"}')) })
    out.push({ label: `${where}/constructor key`, json: splice(spliceKey(obj, 'constructor', '{"prototype":{"polluted":1}}')) })
  }
  walk(schema, sample, (f) => f, '', 1)
  return out
}

/** `obj` as JSON with `key` set to the raw JSON `fragment`. */
function spliceKey(obj: Record<string, unknown>, key: string, fragment: string): string {
  const marker = '\u0001fuzz\u0001'
  return JSON.stringify({ ...obj, [key]: marker }).replace(JSON.stringify(marker), fragment)
}

/**
 * Hostile values for a path or query parameter, as they appear in a URL (already percent-encoded
 * where a client would encode them; `%FF` is invalid UTF-8 once decoded).
 */
export const PARAM_VALUES: readonly string[] = [
  '', '0', '-1', '1.5', '1e3', '1e400', 'NaN', 'Infinity', '-0', '0x10', '9'.repeat(400), 'null', 'true', '[]', '%7B%7D',
  '%00', '%FF', '%FF%FE', '%C3%28', '%E0%80%AF', '%ED%A0%80', '%', '%zz', '%2e%2e%2f%2e%2e', '..', 'x'.repeat(5000),
  '%F0%9F%99%82', '%20', '%0D%0Ainjected:%201', '%22%3Cscript%3E', 'a%2Fb',
]

/** Shortens a fragment for a label. */
export function short(s: string): string {
  return s.length <= 24 ? s : `${s.slice(0, 12)}…(${s.length})`
}
