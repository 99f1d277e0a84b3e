/**
 * The floor of bench/cluster: raw `Bun.serve` (no framework, `GET /healthz` -> `ok`,
 * `GET /users/:id` -> JSON from a Map) in `RAW_PROCESSES` processes sharing `PORT` with
 * `reusePort`, as highperf's PROCESSES does. What 1 -> 2 processes can give on this machine with
 * the load generator on the same cores, before any of highperf's work.
 *
 * @example
 * ```sh
 * RAW_PROCESSES=2 PORT=4000 bun bench/cluster/raw.ts
 * ```
 */
const processes = Number(process.env.RAW_PROCESSES ?? 1)
const child = process.env.RAW_CHILD === '1'
const users = new Map([['1', JSON.stringify({ id: 1, name: 'Bench User', email: 'bench@example.com', createdAt: '2026-01-01T00:00:00.000Z' })]])
const json = { 'content-type': 'application/json' }

Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: '127.0.0.1',
  reusePort: true,
  routes: {
    '/healthz': new Response('ok'),
    '/users/:id': (req) => {
      const u = users.get(req.params.id)
      return u === undefined ? new Response('{"error":"not found"}', { status: 404, headers: json }) : new Response(u, { headers: json })
    },
  },
  fetch: () => new Response('not found', { status: 404 }),
})

if (!child) {
  const kids = Array.from({ length: processes - 1 }, () =>
    Bun.spawn([process.execPath, import.meta.path], { env: { ...process.env, RAW_CHILD: '1' }, stdout: 'ignore', stderr: 'inherit' }),
  )
  const stop = () => {
    for (const k of kids) k.kill('SIGTERM')
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
