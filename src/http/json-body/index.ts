/**
 * JSON request bodies, parsed and validated by highperf instead of Elysia: every route that takes
 * a JSON body declares it with {@link jsonBody}, so there is one parser for all of them.
 *
 * What it does, in order, for a request on such a route:
 * 1. reads the body as text (through src/http/body-limit, so `MAX_BODY_SIZE` holds for chunked
 *    bodies too) whatever its declared content type (`curl -d` sends a form type);
 * 2. refuses JSON nested deeper than `MAX_JSON_DEPTH` (422 `too_deep`) with a linear scan,
 *    before anything recursive runs (src/json/depth.ts); then `JSON.parse` (400 `invalid_json`);
 * 3. runs the route's `prepare` (e.g. a content-type rule, trimming);
 * 4. checks the schema, closed to unknown fields ({@link closed}), with a compiled TypeBox check, and on failure answers 422
 *    `validation_failed` listing at most 20 paths (src/http/recovery/details.ts).
 *
 * Why Elysia does not validate these bodies (the schema is marked `noValidate`; Elysia still
 * documents it in OpenAPI, types the handler's `body`, applies defaults and decodes): Elysia's
 * `ValidationError` constructor pretty-prints the whole rejected value into its message
 * (`JSON.stringify(…, null, 2)`), computes 64 value-echoing summaries, and does it before any
 * error hook can step in. That output grows with depth × size: 9.6 s for `[` × 20 000 on
 * `POST /batch`, and 40–300 ms for a shallow 1 MB body of wrong types (measured on this
 * machine), a `RangeError` (500) for deep arrays. Here a rejected body costs one check plus at
 * most 20 lazily produced errors.
 *
 * Errors thrown here reach recovery wrapped in Elysia's `ParseError`; recovery answers with the
 * wrapped AppError.
 *
 * @example
 * ```ts
 * app.post('/things', ({ body }) => create(body), { ...jsonBody(ThingSchema), detail: { summary: '…' } })
 * ```
 */
import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { AppError } from '../../errors.ts'
import { MAX_JSON_DEPTH, parseBoundedJson } from '../../json/depth.ts'
import { schemaErrors, validationMessage } from '../recovery/details.ts'

/** Route-specific steps of {@link jsonBody}. */
export interface JsonBodyOptions {
  /**
   * Runs on the parsed body before the schema check: throw an AppError to refuse the request
   * (e.g. a content-type rule), or normalise the value in place (e.g. trim strings).
   */
  prepare?(body: unknown, request: Request): void
}

/** The route options {@link jsonBody} returns; spread them into the route's options. */
export interface JsonBodyRoute<S extends TSchema> {
  /** The schema as Elysia sees it: documented and typed, but not validated by Elysia. */
  body: S
  /** highperf's parser first; `'json'` is never reached, it only makes OpenAPI list application/json. */
  parse: [(context: { request: Request }) => Promise<unknown>, 'json']
}

/**
 * Marks a schema as "validated elsewhere" for Elysia (its `noValidate` flag): on a copy, so a
 * shared schema stays untouched, and not enumerable, so the flag stays out of the OpenAPI document.
 */
function unvalidated<S extends TSchema>(schema: S): S {
  return Object.defineProperty({ ...schema }, 'noValidate', { value: true, enumerable: false })
}

/**
 * `schema` with `additionalProperties: false` on every object in it that does not say otherwise:
 * a JSON body with a field the route does not know is a 422 naming it (`/emial: Unexpected
 * property`), never silently dropped. A typo in an optional field would otherwise be a request
 * that "worked" without doing what was asked. An object that declares `additionalProperties`
 * itself keeps it; free-form values (`t.Unknown`, `t.Any`) are not objects here and stay open.
 * Copies along the way: a schema shared with a response keeps its own shape.
 *
 * The checked schema and the documented one are the same object, so OpenAPI says
 * `additionalProperties: false` exactly where the server refuses extra fields
 * (docs/resilience.md#unknown-fields).
 *
 * @example closed(t.Object({ a: t.String() })).additionalProperties // false
 */
export function closed<S extends TSchema>(schema: S): S {
  return close(schema) as S
}

function close(node: unknown): unknown {
  if (node === null || typeof node !== 'object') return node
  if (Array.isArray(node)) return node.map(close)
  const src = node as Record<string | symbol, unknown>
  const out: Record<string | symbol, unknown> = { ...src }
  for (const key of ['properties', 'patternProperties'] as const) {
    const props = src[key]
    if (props !== null && typeof props === 'object') {
      out[key] = Object.fromEntries(Object.entries(props as Record<string, unknown>).map(([k, v]) => [k, close(v)]))
    }
  }
  for (const key of ['items', 'anyOf', 'allOf', 'oneOf', 'not'] as const) if (src[key] !== undefined) out[key] = close(src[key])
  if (src.type === 'object' && src.properties !== undefined && src.additionalProperties === undefined) out.additionalProperties = false
  return out
}

/**
 * Reads, depth-checks, parses and validates a request body against `schema`: the
 * whole of this module's pipeline, usable without Elysia (tests, other servers).
 *
 * @example
 * ```ts
 * const body = await readJsonBody(request, TypeCompiler.Compile(Thing))
 * ```
 */
export async function readJsonBody(request: Request, check: TypeCheck<TSchema>, options: JsonBodyOptions = {}): Promise<unknown> {
  const text = await request.text()
  let body: unknown
  try {
    body = parseBoundedJson(text, MAX_JSON_DEPTH, 'the request body')
  } catch (err) {
    if (err instanceof AppError) throw err
    throw new AppError('invalid_json', 'The request body is not valid JSON')
  }
  options.prepare?.(body, request)
  if (!check.Check(body)) {
    const details = schemaErrors(check.Errors(body))
    throw new AppError('validation_failed', validationMessage('body', details), { details })
  }
  return body
}

/**
 * Route options for a JSON body checked against `schema` (see the module comment). The check is
 * compiled on the route's first request, not at start.
 *
 * @example
 * ```ts
 * .post('/users', ({ body }) => users.create(body), { ...jsonBody(NewUserSchema, { prepare: trim }), detail })
 * ```
 */
export function jsonBody<S extends TSchema>(schema: S, options: JsonBodyOptions = {}): JsonBodyRoute<S> {
  const strict = closed(schema)
  let check: TypeCheck<TSchema> | undefined
  const parser = ({ request }: { request: Request }): Promise<unknown> => readJsonBody(request, (check ??= TypeCompiler.Compile(strict)), options)
  return { body: unvalidated(strict), parse: [parser, 'json'] }
}

/**
 * True when `schema` is a body schema handed to Elysia by {@link jsonBody} (a test walks every
 * route with it: a JSON body that Elysia validates itself would bring back its costly errors).
 *
 * @example isJsonBodySchema(jsonBody(Thing).body) // true
 */
export function isJsonBodySchema(schema: unknown): boolean {
  return schema !== null && typeof schema === 'object' && (schema as { noValidate?: unknown }).noValidate === true
}
