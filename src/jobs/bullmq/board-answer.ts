/**
 * What the queue dashboard (bull-board, dashboard.ts) answers a client, minus the 500s that are
 * no server fault:
 * - an action BullMQ refuses for the job's state (promote a finished job, retry one removed
 *   meanwhile: its scripts' error codes), which bull-board answers 500 with the message: 409
 *   `conflict` with that message;
 * - the queue's Redis or PostgreSQL not answering (bull-board's 500 "Command timed out"): 503
 *   `jobs_unavailable` with Retry-After, like /jobs;
 * - a path no file can have (a NUL, a name past 255 bytes): 404 before bull-board sees it (Hono's
 *   serveStatic opens the decoded name, and that open throws: a 500).
 *
 * @example
 * ```ts
 * const fetch = guardedBoard(await dashboardFetch(queue, '/admin/queues'))
 * await fetch(new Request('http://h/admin/queues/static/%00')) // throws AppError not_found
 * ```
 */
import { AppError } from '../../errors.ts'

/** A dashboard: one request in, bull-board's answer out. */
export type BoardFetch = (request: Request) => Response | Promise<Response>

/** Whether every segment of `path` can name a file (no NUL, at most NAME_MAX = 255 bytes). */
export function nameable(path: string): boolean {
  for (const segment of path.split('/')) {
    let name: string
    try { name = decodeURIComponent(segment) } catch { continue } // bull-board answers 404 itself
    if (name.includes('\0') || Buffer.byteLength(name) > 255) return false
  }
  return true
}

// BullMQ's refusals of an action on a job in the wrong state (its Scripts' finishedErrors).
const JOB_STATE_REFUSAL = /^(?:Missing (?:key|lock) for (?:parent )?job|Lock mismatch for job|Job \S+ (?:is not in the|has pending|belongs to|could not be))/

// The queue's Redis or PostgreSQL not answering (ioredis, pg).
const BACKEND_DOWN = /timed out|Connection is closed|Connection terminated|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|max retries per request|isn't writeable|timeout exceeded/i

/** bull-board's answer `res`, or the AppError its 500 means (see the module comment). */
export async function boardAnswer(res: Response): Promise<Response> {
  if (res.status < 500 || !(res.headers.get('content-type') ?? '').startsWith('application/json')) return res
  const text = await res.text()
  let message: unknown
  try { message = (JSON.parse(text) as { message?: unknown }).message } catch { /* not bull-board's JSON */ }
  if (typeof message === 'string' && JOB_STATE_REFUSAL.test(message)) throw new AppError('conflict', `The queue dashboard's action does not fit the job's state: ${message}`)
  if (typeof message === 'string' && BACKEND_DOWN.test(message)) throw new AppError('jobs_unavailable', `The queue dashboard cannot reach the job queue (JOBS_URL): ${message}; retry later`, { retryAfter: 5 })
  return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers })
}

/**
 * `board` with the guards of the module comment around it.
 *
 * @example const fetch = guardedBoard(board)
 */
export function guardedBoard(board: BoardFetch): BoardFetch {
  return async (request) => {
    if (!nameable(new URL(request.url).pathname)) throw new AppError('not_found', 'The queue dashboard has no file by that name')
    return boardAnswer(await board(request))
  }
}
