/**
 * `/users`: create, read, change, page through and delete users stored in bun:sqlite (or
 * PostgreSQL with `DATABASE_URL`: the store answers a value or a promise, see src/store/maybe.ts).
 *
 * - `POST /users` `{name, email}` -> 201 + `Location: /users/<id>`; 409 `conflict` when the email
 *   (ignoring case) is taken; 422 `validation_failed` naming the field; 400 `invalid_json` for a
 *   body that is not JSON; 415 `unsupported_media_type` for JSON sent without
 *   `Content-Type: application/json`.
 * - `GET /users/:id` -> 200 with a weak `ETag` (304 when `If-None-Match` names it:
 *   src/http/etag.ts), or 404; a non-numeric id -> 422 naming `/id`.
 * - `PATCH /users/:id` `{name?, email?}` -> 200 with the user as stored now (and its `ETag`); 404
 *   for an unknown id; 409 `conflict` when the new email belongs to another user; 422 for an empty
 *   patch, an unknown field or a bad value; 415 unless the body is `application/json` or
 *   `application/merge-patch+json` (the body is a JSON Merge Patch, RFC 7396, without `null`:
 *   no field can be removed). Like every write, it needs the token when `API_TOKEN` is set.
 * - `GET /users?limit&cursor` -> `{items, nextCursor}`, keyset paging on the id.
 * - `DELETE /users/:id` -> 204, or 404.
 *
 * The id and paging schemas are the shared ones (./schemas.ts: digit-pattern strings, so a 422
 * names `/id`, `/limit` or `/cursor`).
 *
 * @example
 * ```ts
 * app.use(userRoutes(SqliteUserStore.open('./data/users.sqlite')))
 * // curl -XPOST localhost:3000/users -H 'content-type: application/json' -d '{"name":"Ada","email":"ada@example.com"}'
 * ```
 */
import { Elysia, t } from 'elysia'
import { Type } from '@sinclair/typebox'
import { AppError } from '../errors.ts'
import { SqliteUserStore, type UserStore } from '../store/users.ts'
import { andThen } from '../store/maybe.ts'
import { ErrorSchema, NotModified, Page, PageQuery, PositiveIdParams, STORED_TEXT, pageArgs, positiveId, named } from './schemas.ts'
import { jsonWithEtag } from '../http/etag.ts'
import { jsonBody } from '../http/json-body/index.ts'
import { policyOption } from '../http/route-policy.ts'
import { HOT_READ } from './policy.ts'

const EXAMPLE_USER = { id: 1, name: 'Ada Lovelace', email: 'ada@example.com', createdAt: '2026-01-01T12:00:00.000Z' }

/** A stored user as the API returns it. */
export const UserSchema = named('User', t.Object(
  {
    // TypeBox's own Integer: Elysia's t.Integer also accepts numeric strings, which would make the
    // documented response type a string-or-integer union.
    id: Type.Integer({ minimum: 1, examples: [1] }),
    name: t.String({ examples: ['Ada Lovelace'] }),
    email: t.String({ format: 'email', examples: ['ada@example.com'] }),
    createdAt: t.String({ format: 'date-time', description: 'ISO 8601, UTC', examples: ['2026-01-01T12:00:00.000Z'] }),
  },
  { examples: [EXAMPLE_USER] },
))

/** The body of `POST /users`; strings are trimmed before validation. */
export const NewUserSchema = named('NewUser', t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100, ...STORED_TEXT, description: '1-100 characters after trimming, no U+0000', examples: ['Ada Lovelace'] }),
    email: t.String({ format: 'email', maxLength: 254, description: 'Unique, compared without regard to case', examples: ['ada@example.com'] }),
  },
  { examples: [{ name: 'Ada Lovelace', email: 'ada@example.com' }] },
))

/**
 * The body of `PATCH /users/:id`: the fields to change, at least one. Unknown fields are refused
 * (422), not dropped: a misspelt `emial` silently changing nothing would look like success.
 *
 * @example { "email": "ada@lovelace.example" } // or { "name": "Ada" }, or both; never {}
 */
export const UserPatchSchema = t.Object(
  { name: t.Optional(NewUserSchema.properties.name), email: t.Optional(NewUserSchema.properties.email) },
  { additionalProperties: false, minProperties: 1, description: 'The fields to change, at least one', examples: [{ email: 'ada@lovelace.example' }] },
)

/** One page of users. */
export const UserPageSchema = named('UserPage', Page(UserSchema, EXAMPLE_USER))

// Media types are case-insensitive (RFC 9110 §8.3.1).
const JSON_TYPE = /^application\/json\s*(?:;|$)/i
// A PATCH body may also say what it is: a JSON Merge Patch (RFC 7396), which ours is.
const PATCH_TYPE = /^application\/(?:merge-patch\+)?json\s*(?:;|$)/i

/** `prepare` of `POST /users`: 415 unless declared JSON, then names and emails trimmed in place. */
function requireJsonAndTrim(body: unknown, request: Request): void {
  if (!JSON_TYPE.test(request.headers.get('content-type') ?? '')) {
    throw new AppError('unsupported_media_type', 'POST /users takes an application/json body')
  }
  trim(body)
}

/** `prepare` of `PATCH /users/:id`: 415 unless JSON or a merge patch, then trimmed as on POST. */
function requirePatchAndTrim(body: unknown, request: Request): void {
  if (!PATCH_TYPE.test(request.headers.get('content-type') ?? '')) {
    throw new AppError('unsupported_media_type', 'PATCH /users/:id takes an application/json or application/merge-patch+json body')
  }
  // Said here in words: the schema's minProperties would read "at least 1 properties".
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0) {
    throw new AppError('validation_failed', 'body: a patch names at least one field to change: name, email', {
      details: [{ path: '/', message: 'at least one of name, email' }],
    })
  }
  trim(body)
}

/** Trims a body's name and email in place, so surrounding spaces never reach the database. */
function trim(body: unknown): void {
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>
    if (typeof b.name === 'string') b.name = b.name.trim()
    if (typeof b.email === 'string') b.email = b.email.trim()
  }
}

/** The id of the path as a number; ids past the safe range can name no row, so they are 404s. */
function userId(raw: string): number {
  const id = positiveId(raw)
  if (id === undefined) throw new AppError('not_found', `user ${raw} does not exist`)
  return id
}

/**
 * The handler of `GET /users/:id` over `users`.
 *
 * Over bun:sqlite (a store that never answers a promise) it is a bound function, so that Elysia
 * compiles the route synchronously: Elysia decides whether a handler is async by reading its
 * source, and one that returns a call's result (`=> f(`, `return f(`: `matchFnReturn` in
 * elysia/dist/compose.mjs) counts as async, so every answer went through an `await` in the route
 * and a promise per request in the front (`track`). A bound function's source is
 * `[native code]`: the route is compiled as a plain call. (Elysia infers from that source which
 * context fields to compute; this handler needs only `params`, which its router always fills, and
 * `request`, always there.) Over PostgreSQL the handler answers promises and stays an arrow
 * function, compiled async. What it buys: CPU per `GET /users/:id` 54.3 → 50.6 µs, full stack
 * (`BASE=<the commit before> ENDPOINTS=user STACKS=full BENCH_ROUNDS=10 bun bench/http/ab.ts`,
 * 2026-12-03 16:50Z, load average ~8.5). test/routes/users.test.ts fails if the route turns async.
 *
 * @example new Elysia().get('/users/:id', readUser(SqliteUserStore.open(path)), { params: PositiveIdParams })
 */
export function readUser(users: UserStore): (context: { params: { id: string }; request: Request }) => Response | Promise<Response> {
  const read = ({ params, request }: { params: { id: string }; request: Request }) => {
    return andThen(users.get(userId(params.id)), (user) => {
      if (user === null) throw new AppError('not_found', `user ${params.id} does not exist`)
      return jsonWithEtag(request, JSON.stringify(user))
    })
  }
  return users instanceof SqliteUserStore ? read.bind(null) : read
}

/**
 * Elysia plugin with the five `/users` routes over `users`.
 *
 * @example
 * ```ts
 * new Elysia().use(userRoutes(users))
 * ```
 */
export function userRoutes(users: UserStore) {
  return new Elysia({ name: 'highperf/routes/users' })
    .use(policyOption)
    .post(
      '/users',
      ({ body, set, status }) => {
        return andThen(users.create(body), (user) => {
          set.headers.location = `/users/${user.id}`
          return status(201, user)
        })
      },
      {
        // Parsed and checked by jsonBody (src/http/json-body: depth bound, bounded 422s); its
        // `prepare` runs after parsing and before the check: JSON sent under another content
        // type is refused as such (not as a schema mismatch), and surrounding spaces never reach
        // the database. A body that is not JSON is a 400 before that, whatever its type.
        ...jsonBody(NewUserSchema, { prepare: requireJsonAndTrim }),
        detail: {
          summary: 'Creates a user',
          description: '201 with Location; 409 if the email is taken (ignoring case); 422 names the failing field; 400 malformed JSON; 413 body too large; 415 Content-Type is not application/json.',
          tags: ['users'],
        },
        response: { 201: UserSchema, 400: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 422: ErrorSchema },
      },
    )
    .get(
      '/users/:id',
      readUser(users),
      {
        policy: HOT_READ,
        params: PositiveIdParams,
        detail: {
          summary: 'Reads one user',
          description: '404 if unknown; 422 if the id is not a positive integer. Carries a weak ETag; If-None-Match with it answers 304 without a body.',
          tags: ['users'],
        },
        response: { 200: UserSchema, 304: NotModified, 404: ErrorSchema, 422: ErrorSchema },
      },
    )
    .patch(
      '/users/:id',
      ({ params, body, request }) => {
        return andThen(users.update(userId(params.id), body), (user) => {
          if (user === null) throw new AppError('not_found', `user ${params.id} does not exist`)
          return jsonWithEtag(request, JSON.stringify(user))
        })
      },
      {
        params: PositiveIdParams,
        ...jsonBody(UserPatchSchema, { prepare: requirePatchAndTrim }),
        detail: {
          summary: 'Changes a user\'s name or email',
          description:
            '200 with the user as stored now and its ETag; 404 if unknown; 409 if the email is taken by another user (ignoring case); ' +
            '422 for an empty patch, an unknown field or a bad value; 415 unless application/json or application/merge-patch+json.',
          tags: ['users'],
        },
        response: { 200: UserSchema, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 422: ErrorSchema },
      },
    )
    .get(
      '/users',
      ({ query }) => users.list(pageArgs(query)),
      {
        query: PageQuery,
        detail: {
          summary: 'Lists users in id order, a page at a time',
          description: 'Keyset paging: pass the previous page\'s nextCursor as ?cursor=. 422 for a bad limit or cursor.',
          tags: ['users'],
        },
        response: { 200: UserPageSchema, 422: ErrorSchema },
      },
    )
    .delete(
      '/users/:id',
      ({ params, status }) => {
        return andThen(users.delete(userId(params.id)), (deleted) => {
          if (!deleted) throw new AppError('not_found', `user ${params.id} does not exist`)
          return status(204, undefined)
        })
      },
      {
        params: PositiveIdParams,
        detail: { summary: 'Deletes a user', description: '204 when deleted; 404 if unknown.', tags: ['users'] },
        response: { 204: t.Void({ description: 'Deleted; no body' }), 404: ErrorSchema, 422: ErrorSchema },
      },
    )
}
