/**
 * `/admin/queues`: the BullMQ queue dashboard (bull-board, src/jobs/bullmq/dashboard.ts) when jobs
 * run on BullMQ (`JOBS_URL`); without it, 404 with the JSON envelope saying what to set.
 *
 * Behind `API_TOKEN` when set, on every method (reads show job inputs and results): a request
 * carries `Authorization: Bearer <token>`, or Basic credentials with the token as the password,
 * which a browser asks for itself after the 401's `WWW-Authenticate: Basic` challenge.
 *
 * bull-board answers for itself, except for what would be a 500 on a client's request: a
 * dashboard action BullMQ refuses for the job's state (promote a finished job) is 409 `conflict`,
 * the queue's backend not answering is 503 `jobs_unavailable` with Retry-After, and a path no file can have (a NUL, a name past 255 bytes) is 404 before bull-board opens it.
 *
 * bull-board reads its UI from node_modules at run time, so the dashboard works when highperf runs
 * from source; the single binary answers 404 saying so (docs/jobs.md#many-hosts).
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

/**
 * Whether every segment of `path` can name a file: bull-board's static files are opened by the
 * decoded name, and a NUL or a name past NAME_MAX (255 bytes) makes that open throw (a 500).
 */
function nameable(path: string): boolean {
  for (const segment of path.split('/')) {
    let name: string
    try { name = decodeURIComponent(segment) } catch { continue } // bull-board answers 404 itself
    if (name.includes('\0') || Buffer.byteLength(name) > 255) return false
  }
  return true
}

// BullMQ's refusals of an action on a job in the wrong state (its scripts' error codes), which
// bull-board answers 500 with the message: a retry of a job that did not fail, a promote of one
// that is not delayed, a job removed meanwhile.
const JOB_STATE_REFUSAL = /^(?:Missing (?:key|lock) for (?:parent )?job|Lock mismatch for job|Job \S+ (?:is not in the|has pending|belongs to|could not be))/

// The queue's Redis or PostgreSQL not answering (ioredis, pg): bull-board answers 500 with it.
const BACKEND_DOWN = /timed out|Connection is closed|Connection terminated|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|max retries per request|isn't writeable|timeout exceeded/i

/**
 * bull-board's answer, except its 500s that are no server fault: a refusal of BullMQ's for the
 * job's state (409 with its message) and the queue's backend not answering (503 `jobs_unavailable`).
 */
async function boardAnswer(res: Response): Promise<Response> {
  if (res.status < 500 || !(res.headers.get('content-type') ?? '').startsWith('application/json')) return res
  const text = await res.text()
  let message: unknown
  try { message = (JSON.parse(text) as { message?: unknown }).message } catch { /* not bull-board's JSON */ }
  if (typeof message === 'string' && JOB_STATE_REFUSAL.test(message)) throw new AppError('conflict', `The queue dashboard's action does not fit the job's state: ${message}`)
  if (typeof message === 'string' && BACKEND_DOWN.test(message)) throw new AppError('jobs_unavailable', `The queue dashboard cannot reach the job queue (JOBS_URL): ${message}; retry later`, { retryAfter: 5 })
  return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers })
}

/** Elysia plugin with `/admin/queues` and everything under it. */
export function adminQueuesRoutes(deps: AdminQueuesDeps) {
  const verifier = deps.config.apiToken === '' ? undefined : new TokenVerifier(deps.config.apiToken)
  let board: Promise<(request: Request) => Response | Promise<Response>> | undefined
  const handle = async ({ request }: { request: Request }): Promise<Response> => {
    const jobs = deps.jobs
    if (!hasDashboard(jobs)) {
      throw new AppError('not_found', 'The queue dashboard needs jobs on BullMQ: set JOBS_URL=redis://host:6379 (or postgres://…) on every node; docs/jobs.md#many-hosts')
    }
    if (verifier && !authorized(verifier, request)) {
      throw new AppError('unauthorized', 'The queue dashboard needs the API token: send Authorization: Bearer <token>, or log in with any user name and the token as password', {
        headers: { 'www-authenticate': 'Basic realm="highperf queues", charset="UTF-8"' },
      })
    }
    board ??= jobs.dashboard(DASHBOARD_PATH).catch((err: unknown) => {
      // bull-board reads its UI (templates, assets) from node_modules at run time; the single
      // binary has no node_modules, so the dashboard runs from source (`bun start`) or the image
      // of another service pointed at the same JOBS_URL.
      throw new AppError('not_found', `The queue dashboard cannot start in this build (${err instanceof Error ? err.message : String(err)}): it needs node_modules/@bull-board/ui, so run highperf from source (bun start) for /admin/queues`, { cause: err })
    })
    if (!nameable(new URL(request.url).pathname)) {
      throw new AppError('not_found', 'The queue dashboard has no file by that name')
    }
    return boardAnswer(await (await board)(request))
  }
  const tags = ['admin']
  const page = { summary: 'The BullMQ queue dashboard (bull-board) with JOBS_URL; 404 saying to set it without', tags }
  const api = { summary: "bull-board's UI assets and API under /admin/queues (retry, promote, clean… through the UI)", tags }
  const read = { policy: DASHBOARD, detail: page }
  // Reads and bull-board's own actions (PUT retry/promote/clean, POST, DELETE); the body goes to bull-board unread.
  const write = { policy: DASHBOARD, parse: 'none' as const, detail: api }
  return new Elysia({ name: 'highperf/routes/admin-queues' })
    .use(policyOption)
    .get(DASHBOARD_PATH, handle, read)
    .get(`${DASHBOARD_PATH}/*`, handle, { policy: DASHBOARD, detail: api })
    .put(`${DASHBOARD_PATH}/*`, handle, write)
    .post(`${DASHBOARD_PATH}/*`, handle, write)
    .delete(`${DASHBOARD_PATH}/*`, handle, write)
}
