/**
 * The floor of bench/startup: what a compiled server built on highperf's two heavy foundations
 * costs before any of highperf's own code, i.e. Elysia serving `GET /healthz` (and one validated
 * route), bun:sqlite with three databases in WAL mode in the working directory (highperf opens
 * users, messages and jobs), and `FLOOR_WORKERS` Bun Workers that load nothing and wait
 * (./floor-worker.ts). Compiled with highperf's own flags (scripts/build.ts `COMPILE_FLAGS`).
 * Like highperf's main thread (src/main.ts), it starts with the compile's JIT policy (×20), puts
 * the normal one back once listening and collects its start-up garbage 250 ms later.
 *
 * @example
 * ```sh
 * PORT=4000 FLOOR_WORKERS=2 bun bench/startup/floor.ts
 * ```
 */
import { Database } from 'bun:sqlite'
import { Elysia, t } from 'elysia'

for (const name of ['users', 'messages', 'jobs']) {
  const db = new Database(`${name}.sqlite`, { create: true })
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)')
  db.query('SELECT v FROM t WHERE id = ?1').get(1)
}
const app = new Elysia()
  .get('/healthz', () => 'ok')
  .get('/t/:id', ({ params }) => ({ id: params.id }), { params: t.Object({ id: t.Numeric() }) })
Bun.serve({ port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST ?? '127.0.0.1', fetch: app.fetch })
// Same lookup as src/pool/worker-handle.ts: inside the binary the worker is $bunfs/root/floor-worker.ts.
for (let i = 0; i < Number(process.env.FLOOR_WORKERS ?? 2); i++) new Worker(new URL('./floor-worker.ts', import.meta.url))
Bun.unsafe.setJITPolicy(1)
setTimeout(() => Bun.gc(true), 250).unref()
