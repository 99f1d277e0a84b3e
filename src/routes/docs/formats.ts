/**
 * Keeps request/response validation on Elysia's own format checks after `@elysiajs/openapi` loads.
 *
 * Why: `@elysiajs/openapi` bundles `@sinclair/typemap`, and that package replaces TypeBox's global
 * `FormatRegistry` entries (`email`, `uuid`, `date`, `ipv4`, …) with Zod checks that build a new Zod
 * schema on every call. Every `format: 'email'` in a route schema (for example the users' response
 * schema) then cost a Zod object per request. The profile of `GET /users/:id` under wrk put about 40 %
 * of the main thread's CPU there (bench/http/profile.ts). This module is imported before
 * `@elysiajs/openapi`, so it snapshots the registry as Elysia left it, and
 * {@link restoreElysiaFormats} puts those functions back.
 *
 * @example
 * ```ts
 * import { restoreElysiaFormats } from './formats.ts' // must come before '@elysiajs/openapi'
 * import { openapi } from '@elysiajs/openapi'
 * restoreElysiaFormats() // ['date', 'email', 'ipv4', …]
 * ```
 */
import 'elysia'
import { FormatRegistry } from '@sinclair/typebox'

/** The format checks Elysia registered, captured before anything could replace them. */
export const ELYSIA_FORMATS: ReadonlyMap<string, (value: string) => boolean> = FormatRegistry.Entries()

/** Re-registers every Elysia format check that something replaced; returns the names it restored. */
export function restoreElysiaFormats(): string[] {
  const restored: string[] = []
  for (const [name, check] of ELYSIA_FORMATS) {
    if (FormatRegistry.Get(name) !== check) {
      FormatRegistry.Set(name, check)
      restored.push(name)
    }
  }
  return restored
}
