/**
 * The baseline of bench/http: plain `Bun.serve` with its built-in router, no framework, no
 * middleware. `GET /healthz` -> `ok`; `GET /users/:id` -> JSON from a Map (what a sqlite read is
 * compared against). Started by bench/http/index.ts with PORT set.
 *
 * @example
 * ```sh
 * PORT=4000 bun bench/http/raw.ts
 * ```
 */
const users = new Map<number, { id: number; name: string; email: string; createdAt: string }>([
  [1, { id: 1, name: 'Bench User', email: 'bench@example.com', createdAt: '2026-01-01T00:00:00.000Z' }],
])

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  routes: {
    '/healthz': () => new Response('ok'),
    '/users/:id': (req) => {
      const user = users.get(Number(req.params.id))
      return user ? Response.json(user) : new Response('not found', { status: 404 })
    },
  },
  fetch: () => new Response('not found', { status: 404 }),
})
process.on('SIGTERM', () => { server.stop(true); process.exit(0) })
