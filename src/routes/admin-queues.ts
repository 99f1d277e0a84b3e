/**
 * `/admin/queues`: the BullMQ queue dashboard (bull-board, src/jobs/bullmq/dashboard.ts) when jobs
 * run on BullMQ (`JOBS_URL`); without it, 404 with the JSON envelope saying what to set.
 *
 * Behind `API_TOKEN` when set, on every method (reads show job inputs and results): a request
 * carries `Authorization: Bearer <token>`, or Basic credentials with the token as the password,
 * which a browser asks for itself after the 401's `WWW-Authenticate: Basic` challenge.
 *
 * The dashboard's UI files are embedded in the single binary (src/jobs/bullmq/ui-files.ts), so it
 * is the same from source and from the binary; it is loaded on the first request (a failed load,
 * e.g. while the queue's connection is down, is tried again by the next request).
 *
 * @example
 * ```ts
 * app.use(adminQueuesRoutes({ jobs, config }))
 * // GET /admin/queues -> bull-board's page (JOBS_URL set) | 404 {"error":{"code":"not_found",…}}
 * ```
 */
import { Elysia } from 'elysia'
import { AppError } from '../errors.ts'
import type { Config } from '../config.ts'
import { hasDashboard, type JobService } from '../jobs/service.ts'
import { TokenVerifier } from '../http/bearer-token.ts'
import { policyOption } from '../http/route-policy.ts'
import { DASHBOARD } from './policy.ts'

/** Where the dashboard is served. */
export const DASHBOARD_PATH = '/admin/queues'

/** What the dashboard route needs. */
export interface AdminQueuesDeps {
  jobs: JobService
  config: Pick<Config, 'apiToken'>
}

/** True when `request` carries the token as Bearer, or as the password of Basic credentials. */
function authorized(verifier: TokenVerifier, request: Request): boolean {
  const header = request.headers.get('authorization')
  if (header === null) return false
  if (/^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
    const at = decoded.indexOf(':')
    return at >= 0 && verifier.verify(decoded.slice(at + 1))
  }
  return verifier.verifyHeader(header)
}

/** Elysia plugin with `/admin/queues` and everything under it. */
export function adminQueuesRoutes(deps: AdminQueuesDeps) {
  const verifier = deps.config.apiToken === '' ? undefined : new TokenVerifier(deps.config.apiToken)
  let board: Promise<(request: Request) => Response | Promise<Response>> | undefined
  const handle = async ({ request }: { request: Request }): Promise<Response> => {
    const jobs = deps.jobs
    // The token first: without it, nothing about the server's setup (JOBS_URL or not) is told.
    if (verifier && !authorized(verifier, request)) {
      throw new AppError('unauthorized', 'The queue dashboard needs the API token: send Authorization: Bearer <token>, or log in with any user name and the token as password', {
        headers: { 'www-authenticate': 'Basic realm="highperf queues", charset="UTF-8"' },
      })
    }
    if (!hasDashboard(jobs)) {
      throw new AppError('not_found', 'The queue dashboard needs jobs on BullMQ: set JOBS_URL=redis://host:6379 (or postgres://…) on every node; docs/jobs.md#many-hosts')
    }
    // A failed load (jobs_unavailable while the queue is not connected) is not kept: the next
    // request tries again.
    const loading = (board ??= jobs.dashboard(DASHBOARD_PATH))
    loading.catch(() => {
      if (board === loading) board = undefined
    })
    return (await loading)(request)
  }
  const tags = ['admin']
  const page = { summary: 'The BullMQ queue dashboard (bull-board) with JOBS_URL; 404 saying to set it without', tags }
  const api = { summary: "bull-board's UI assets and API under /admin/queues (retry, promote, clean… through the UI)", tags }
  const read = { policy: DASHBOARD, detail: page }
  // Reads and bull-board's own actions (PUT retry/promote/clean, PATCH update-data/delay/priority,
  // POST, DELETE); the body goes to bull-board unread.
  const write = { policy: DASHBOARD, parse: 'none' as const, detail: api }
  return new Elysia({ name: 'highperf/routes/admin-queues' })
    .use(policyOption)
    .get(DASHBOARD_PATH, handle, read)
    .get(`${DASHBOARD_PATH}/*`, handle, { policy: DASHBOARD, detail: api })
    .put(`${DASHBOARD_PATH}/*`, handle, write)
    .post(`${DASHBOARD_PATH}/*`, handle, write)
    .patch(`${DASHBOARD_PATH}/*`, handle, write)
    .delete(`${DASHBOARD_PATH}/*`, handle, write)
    // The bare path for the other methods too: the front's route table matches `/admin/queues`
    // against `/admin/queues/*`, so Elysia must run the same route (the token check) rather than
    // its 404 (test/http/front.test.ts checks every method of every template).
    .put(DASHBOARD_PATH, handle, write)
    .post(DASHBOARD_PATH, handle, write)
    .patch(DASHBOARD_PATH, handle, write)
    .delete(DASHBOARD_PATH, handle, write)
}
