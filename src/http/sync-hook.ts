/**
 * Declares an Elysia hook synchronous, whatever its source text looks like.
 *
 * Elysia decides whether to `await` a hook by reading its source (`isAsync` in
 * elysia/dist/compose): any `return f(...)` counts as async, and one async `onRequest` hook makes
 * the compiled handler of every request await. bench/request-hooks measures it on GET /healthz:
 * the body-limit and files hooks cost +10–45 ns per request declared with this, +250–360 ns as
 * async hooks (best rounds; baseline ~800 ns). Bun's transpiler rewrites `const x = f(); return x` into `return f()`, so
 * the source cannot be kept innocent by hand. Elysia takes a hook container (`{ fn, isAsync }`,
 * its exported `HookContainer` type) in place of a function; this builds one.
 *
 * A hook declared this way may still return a Promise, but only one that resolves to a Response
 * (Elysia then sends that as the early answer); it must never return a Promise of undefined.
 *
 * @example
 * ```ts
 * app.onRequest(syncHook(({ request }) => {
 *   if (request.method === 'HEAD') return headAnswer(request) // Promise<Response>
 * }))
 * ```
 */
export function syncHook<T extends (...args: never[]) => unknown>(fn: T): T {
  return { fn, isAsync: false, hasReturn: true } as unknown as T
}
