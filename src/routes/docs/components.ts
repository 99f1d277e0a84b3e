/**
 * Reusable OpenAPI components: every schema named with `named()` (src/routes/schemas.ts) is
 * declared once under `components.schemas` and referenced with `$ref` wherever a route uses it.
 *
 * Why a pass over the generated document rather than Elysia's `.model()` + string references:
 * `@elysiajs/openapi` writes a model's component from its *input* form (an integer becomes
 * `anyOf: [numeric string, integer]`, so a generated client would type `User.id` as
 * `string | number`) with an `$id` of `#/components/schemas/X`, which JSON Schema 2020-12 forbids
 * (no fragment in `$id`), and `t.Ref` inside another schema comes out as a bare `"$ref": "User"`.
 * Here the routes keep passing the TypeBox objects (validation and Eden's types are untouched);
 * the name rides along as the schema's `title`.
 *
 * A copy that differs from the first one seen under the same name (e.g. Elysia wrote a request
 * body's form differently) stays inline: a `$ref` must never stand for a different schema.
 *
 * @example
 * ```ts
 * withComponents({ openapi: '3.1.2', paths: { '/u': { get: { responses: { 200: { content: { 'application/json': { schema: { title: 'User', type: 'object' } } } } } } } } })
 * // -> paths…schema = { $ref: '#/components/schemas/User' }, components.schemas.User = { title: 'User', type: 'object' }
 * ```
 */
import { COMPONENT_NAMES } from '../schemas.ts'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Key order does not matter to a schema: compare canonical serialisations. */
function canonical(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k]!)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

function isObject(value: unknown): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Returns a copy of `doc` with named schemas moved to `components.schemas` (the input is not changed). */
export function withComponents<D extends object>(doc: D): D {
  const found = new Map<string, { schema: Json; key: string }>()
  // Post-order: a named schema inside another is a $ref inside that one's component too.
  const walk = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(walk)
    if (!isObject(node)) return node
    const out: { [key: string]: Json } = {}
    for (const [k, v] of Object.entries(node)) out[k] = walk(v)
    const name = out.title
    if (typeof name !== 'string' || !COMPONENT_NAMES.has(name)) return out
    const key = canonical(out)
    const first = found.get(name)
    if (!first) found.set(name, { schema: out, key })
    else if (first.key !== key) return out
    return { $ref: `#/components/schemas/${name}` }
  }
  const source = doc as unknown as { [key: string]: Json }
  const paths = walk(source.paths ?? {})
  const components = isObject(source.components) ? source.components : {}
  const schemas: { [key: string]: Json } = { ...(isObject(components.schemas) ? components.schemas : {}) }
  for (const [name, { schema }] of [...found].sort(([a], [b]) => a.localeCompare(b))) schemas[name] = schema
  return { ...source, paths, components: { ...components, schemas } } as unknown as D
}

/**
 * Returns a copy of `doc` without the `content` the plugin writes for a `t.Void()` response
 * (`204`, `304`): it puts the schema itself there (`content: {type: 'void'}`), which is not a map
 * of media types and fails OpenAPI validation. A response without a body has no `content`.
 *
 * @example withoutVoidContent({ paths: { '/u': { delete: { responses: { 204: { description: 'x', content: { type: 'void' } } } } } } })
 * // -> … 204: { description: 'x' }
 */
export function withoutVoidContent<D extends object>(doc: D): D {
  const source = doc as unknown as { paths?: { [path: string]: { [method: string]: { responses?: { [status: string]: { content?: { type?: unknown } } } } } } }
  const paths: typeof source.paths = {}
  for (const [path, ops] of Object.entries(source.paths ?? {})) {
    paths[path] = {}
    for (const [method, op] of Object.entries(ops)) {
      if (!op || typeof op !== 'object' || !op.responses) { paths[path][method] = op; continue }
      const responses: { [status: string]: { content?: { type?: unknown } } } = {}
      for (const [status, res] of Object.entries(op.responses)) {
        if (res?.content && typeof res.content.type === 'string') {
          const { content: _void, ...rest } = res
          responses[status] = rest
        } else responses[status] = res
      }
      paths[path][method] = { ...op, responses }
    }
  }
  return { ...source, paths } as unknown as D
}

const done = new WeakMap<object, object>()

/**
 * {@link withoutVoidContent} then {@link withComponents}, once per document object: the plugin hands back the same object until
 * the route table grows, so the pass runs once, not per request.
 *
 * @example app.onAfterHandle(({ path, response }) => path === SPEC_PATH ? componentsOnce(response) : undefined)
 */
export function componentsOnce(doc: object): object {
  let out = done.get(doc)
  if (!out) done.set(doc, (out = withComponents(withoutVoidContent(doc))))
  return out
}
