/**
 * `/admin/queues` when the dashboard fails to load (the queue not connected yet, or Redis down):
 * the request gets that error's envelope (503 jobs_unavailable with Retry-After), and the failure
 * is not kept: the next request loads the dashboard again and is served.
 */
import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import type { JobService } from '../../src/jobs/service.ts'
import { adminQueuesRoutes } from '../../src/routes/admin-queues.ts'
import { stackApp } from '../support/front.ts'

describe('/admin/queues, a dashboard that fails to load', () => {
  test('answers that error, then loads again on the next request', async () => {
    let loads = 0
    const jobs = {
      dashboard: async () => {
        loads++
        if (loads === 1) throw new AppError('jobs_unavailable', 'The job queue is not started yet', { retryAfter: 1 })
        return (request: Request) => new Response(`board at ${new URL(request.url).pathname}`)
      },
    } as unknown as JobService
    const app = stackApp([], (e) => e.use(adminQueuesRoutes({ jobs, config: { apiToken: '' } })))
    const first = await app.handle(new Request('http://localhost/admin/queues'))
    expect(first.status).toBe(503)
    expect(first.headers.get('retry-after')).toBe('1')
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe('jobs_unavailable')
    const second = await app.handle(new Request('http://localhost/admin/queues/api/queues'))
    expect(second.status).toBe(200)
    expect(await second.text()).toBe('board at /admin/queues/api/queues')
    await app.handle(new Request('http://localhost/admin/queues'))
    expect(loads).toBe(2)
  })
})
