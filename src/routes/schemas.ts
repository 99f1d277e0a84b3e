/**
 * Schemas shared by the routes: the error envelope, the positive integer id of `/users/:id`,
 * `/messages/:id` and `/api/cars/:id`, and keyset paging (`?limit&cursor` → `{items, nextCursor}`)
 * of `GET /users` and `GET /messages`. Route files keep their own resource schemas; only what
 * several resources share lives here.
 *
 * Path and query numbers are declared as digit-pattern strings and converted here rather than as
 * `t.Numeric`: Elysia checks the bounds of a coerced number without the field's name (the 422
 * would say `/` instead of `/id`), and `t.Numeric` lets `1e3`, `0x10` and out-of-range values
 * through.
 *
 * `GET /jobs` keeps its own envelope (`{jobs, nextCursor?}`, a UUIDv7 cursor, pages up to 1000):
 * it was published that way before these were shared, its clients read `jobs` and test for a
 * missing `nextCursor`, and its cursor is not an integer. Moving it to `{items, nextCursor: null}`
 * would break them for no gain.
 *
 * @example
 * ```ts
 * app.get('/things/:id', ({ params }) => find(positiveId(params.id)), { params: PositiveIdParams, response: { 404: ErrorSchema } })
 * app.get('/things', ({ query }) => store.list(pageArgs(query)), { query: PageQuery, response: { 200: Page(ThingSchema, exampleThing) } })
 * ```
 */
import { t, type TSchema, type Static } from 'elysia'
import { AppError } from '../errors.ts'

/** Names given with {@link named}: the OpenAPI document lists each once, in `components.schemas`. */
export const COMPONENT_NAMES = new Set<string>()

/**
 * Names a schema: `/swagger/json` then declares it once as `components.schemas[name]` and every
 * route that uses it points there with `$ref`, so generators (openapi-typescript, orval) emit one
 * named type instead of an anonymous copy per route. The name travels as the JSON Schema `title`
 * (Elysia keeps it when it writes the document; src/routes/docs/components.ts collects it), so
 * the routes keep passing the TypeBox object itself and Elysia's validation and Eden's types are
 * unchanged.
 *
 * @example export const UserSchema = named('User', t.Object({ id: t.Integer() }))
 */
export function named<T extends TSchema>(name: string, schema: T): T {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) throw new Error(`component name '${name}' must be alphanumeric`)
  COMPONENT_NAMES.add(name)
  return { ...schema, title: name }
}

/** The JSON error envelope of every non-2xx JSON response (see src/errors.ts). */
export const ErrorSchema = named('Error', t.Object(
  {
    error: t.Object({
      code: t.String({ description: 'Stable snake_case code', examples: ['not_found'] }),
      message: t.String({ examples: ['user 42 does not exist'] }),
      requestId: t.String({ examples: ['k3x9q2-1a'] }),
      details: t.Optional(t.Array(
        t.Object({
          path: t.String({ description: 'JSON Pointer of what failed; / for the whole input', examples: ['/state'] }),
          message: t.String({ examples: ['state must be one of queued, running, succeeded, failed, canceled'] }),
        }),
        { description: 'What failed, field by field (docs/resilience.md#unknown-fields)' },
      )),
    }),
  },
  { description: 'Error envelope' },
))

/**
 * The keywords of a string a database stores (a user's name, a message's text): no U+0000. JSON
 * allows `"\u0000"`, bun:sqlite stores it, PostgreSQL's `text` refuses it (SQLSTATE 22021): the
 * same 422 naming the field on both backends, before any work is done for the request.
 *
 * @example t.String({ minLength: 1, ...STORED_TEXT })
 */
export const STORED_TEXT = { pattern: '^[^\\u0000]*$', 'x-message': 'must not contain U+0000 (NUL)' } as const

// At most 16 digits: every safe integer fits, and a longer string can never name a stored row.
const ID_PATTERN = '^[1-9][0-9]{0,15}$'

/** A positive integer id in the path (`/users/:id`, `/messages/:id`, `/api/cars/:id`); anything else is a 422 naming `/id`. */
export const PositiveIdParams = t.Object({
  id: t.String({ pattern: ID_PATTERN, description: 'A positive integer', examples: ['1'], 'x-message': 'id must be a positive integer' }),
})

/**
 * The id of a {@link PositiveIdParams} path as a number, or undefined past the safe integers
 * (16 digits pass the pattern; such an id can name no row, so callers answer 404).
 *
 * @example positiveId('42') // 42; positiveId('9999999999999999') // undefined
 */
export function positiveId(raw: string): number | undefined {
  const id = Number(raw)
  return Number.isSafeInteger(id) ? id : undefined
}

/** Default page size of the keyset-paged lists. */
export const DEFAULT_PAGE_SIZE = 20

/** `?limit=` (1-100, default 20) and `?cursor=` (the previous page's `nextCursor`) of a keyset-paged list. */
export const PageQuery = t.Object({
  limit: t.Optional(t.String({ pattern: '^(?:[1-9]|[1-9][0-9]|100)$', description: 'Page size, 1-100 (default 20)', examples: ['20'], 'x-message': 'limit must be an integer from 1 to 100' })),
  cursor: t.Optional(t.String({ pattern: '^(?:0|[1-9][0-9]{0,15})$', description: 'nextCursor of the previous page', examples: ['20'], 'x-message': 'cursor must be the nextCursor of a previous page' })),
})

/**
 * A {@link PageQuery} as store arguments: the page size and the id the previous page ended with.
 * A cursor past the safe integers matches the pattern but was never issued: 422 naming `/cursor`.
 *
 * @example pageArgs({ limit: '2', cursor: '20' }) // { limit: 2, after: 20 }
 */
export function pageArgs(query: { limit?: string | undefined; cursor?: string | undefined }): { limit: number; after?: number } {
  const limit = query.limit === undefined ? DEFAULT_PAGE_SIZE : Number(query.limit)
  if (query.cursor === undefined) return { limit }
  const after = Number(query.cursor)
  if (!Number.isSafeInteger(after)) {
    throw new AppError('validation_failed', 'query /cursor: not a cursor this server issued', { details: [{ path: '/cursor', message: 'not a cursor this server issued' }] })
  }
  return { limit, after }
}

/**
 * One page of `item`s: `{items, nextCursor}`, `nextCursor` null on the last page.
 *
 * @example const UserPageSchema = Page(UserSchema, EXAMPLE_USER)
 */
export function Page<T extends TSchema>(item: T, example: Static<T>) {
  return t.Object(
    {
      items: t.Array(item),
      nextCursor: t.Union([t.String(), t.Null()], { description: 'Pass as ?cursor= for the next page; null on the last page', examples: ['20'] }),
    },
    { examples: [{ items: [example], nextCursor: null }] },
  )
}

/**
 * The 304 of a tagged read (src/http/etag.ts): `If-None-Match` named the current `ETag`.
 *
 * @example app.get('/things/:id', read, { response: { 200: ThingSchema, 304: NotModified } })
 */
export const NotModified = t.Void({ description: 'Not Modified: If-None-Match named the current ETag; no body' })
