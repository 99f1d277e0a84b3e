/**
 * The queue dashboard: bull-board's UI and API for the BullMQ queue, as one `fetch` function the
 * route `/admin/queues` (src/routes/admin-queues.ts) hands its requests to.
 *
 * Why `@bull-board/hono` inside Elysia and not `@bull-board/elysia`: the Elysia adapter stopped
 * at 6.21.3 and breaks on BullMQ 6 (its Redis stats answer 500: `Queue#client` is gone in v6);
 * the Hono adapter (9.x) works on Redis and on BullMQ's PostgreSQL backend. Loaded only on the
 * first request to the dashboard, with JOBS_URL set.
 *
 * @example
 * ```ts
 * const fetch = await dashboardFetch(queue, '/admin/queues')
 * const res = await fetch(new Request('http://h/admin/queues'))
 * ```
 */
import type { Queue } from 'bullmq'
import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { HonoAdapter } from '@bull-board/hono'
import { Hono } from 'hono'
import { serveStatic } from 'hono/bun'

/** bull-board for `queue`, served under `basePath`. */
export async function dashboardFetch(queue: Queue, basePath: string): Promise<(request: Request) => Response | Promise<Response>> {
  const adapter = new HonoAdapter(serveStatic)
  createBullBoard({ queues: [new BullMQAdapter(queue as never)], serverAdapter: adapter, options: { uiConfig: { boardTitle: 'highperf jobs' } } })
  adapter.setBasePath(basePath)
  const app = new Hono()
  app.route(basePath, adapter.registerPlugin())
  return (request) => app.fetch(request)
}
