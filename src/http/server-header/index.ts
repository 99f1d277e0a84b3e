/**
 * Server header middleware: names the server on every response (seed 004's `Server` header).
 *
 * @example
 * ```ts
 * app.use(serverHeader('highperf/0.1.0'))
 * ```
 */
import { Elysia } from 'elysia'

/** Elysia plugin: sets `Server: <value>` on every response. */
export function serverHeader(value: string) {
  return new Elysia({ name: 'highperf/server-header', seed: value }).onRequest(({ set }) => {
    set.headers.server = value
  })
}
