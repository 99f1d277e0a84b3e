/**
 * The queue dashboard: bull-board's UI and API for the BullMQ queue, as one `fetch` function the
 * route `/admin/queues` (src/routes/admin-queues.ts) hands its requests to.
 *
 * Why `@bull-board/hono` inside Elysia and not `@bull-board/elysia`: the Elysia adapter stopped
 * at 6.21.3 and breaks on BullMQ 6 (its Redis stats answer 500: `Queue#client` is gone in v6);
 * the Hono adapter (9.x) works on Redis and on BullMQ's PostgreSQL backend. Loaded only on the
 * first request to the dashboard, with JOBS_URL set.
 *
 * Why {@link EmbeddedUiAdapter}: bull-board reads its UI (the `index.ejs` page template and the
 * files under `static/` of `@bull-board/ui`) from node_modules at run time, which the single binary
 * does not have. ui-files.ts imports every one of those files with `{ type: 'file' }`, so
 * `bun build --compile` embeds them; the adapter serves the static files from those paths and
 * renders the template from its path (node_modules from source, `/$bunfs/…` in the binary).
 *
 * @example
 * ```ts
 * const fetch = await dashboardFetch(queue, '/admin/queues')
 * const res = await fetch(new Request('http://h/admin/queues'))
 * ```
 */
import { basename, dirname } from 'node:path'
import type { Queue } from 'bullmq'
import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import type { AppViewRoute } from '@bull-board/api/typings/app'
import { HonoAdapter } from '@bull-board/hono'
import { Hono, type MiddlewareHandler } from 'hono'
import type { serveStatic as bunServeStatic } from 'hono/bun'
import { AppError } from '../../errors.ts'
import { UI_STATIC, UI_TEMPLATES } from './ui-files.ts'

/** Content types of the UI's files, by extension (anything else: octet-stream). */
const TYPES: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  txt: 'text/plain; charset=utf-8',
}

/** Scripts and stylesheets whose names carry a content hash never change: cached for good. */
const HASHED = /\.[0-9a-f]{8,}\.(?:js|css)$/

/**
 * Stands in for `serveStatic` of `hono/bun`: answers `static/<name>` from {@link UI_STATIC}, and
 * passes anything else on (a 404). Only `rewriteRequestPath` of the options is used: the adapter's
 * `root` is a directory of node_modules, which the binary does not have.
 */
function embeddedStatic(options: { rewriteRequestPath?: (path: string) => string } = {}): MiddlewareHandler {
  const rewrite = options.rewriteRequestPath ?? ((p: string) => p)
  return async (c, next) => {
    const name = rewrite(c.req.path).replace(/^\/+/, '')
    const file = UI_STATIC.get(name)
    if (file === undefined) return next()
    const headers: Record<string, string> = { 'content-type': TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream' }
    if (HASHED.test(name)) headers['cache-control'] = 'private, max-age=31536000, immutable'
    return new Response(Bun.file(file), { headers })
  }
}

/**
 * bull-board's Hono adapter with its UI taken from the files ui-files.ts lists: static files
 * through {@link embeddedStatic}, and the page template rendered (by the adapter's ejs
 * `renderFile`) from its own path, which in the binary is an embedded file with a hashed name.
 *
 * @example
 * ```ts
 * createBullBoard({ queues, serverAdapter: new EmbeddedUiAdapter() })
 * ```
 */
export class EmbeddedUiAdapter extends HonoAdapter {
  constructor() {
    super(embeddedStatic as typeof bunServeStatic)
  }

  /** Ignores bull-board's node_modules directory: the template's is where ui-files.ts found it. */
  override setViewsPath(_viewPath: string): this {
    return super.setViewsPath(dirname(template('index.ejs')))
  }

  /** The entry route's template name becomes that of the file at that path (hashed in the binary). */
  override setEntryRoute(route: AppViewRoute): this {
    return super.setEntryRoute({
      ...route,
      handler: (params) => {
        const view = route.handler(params)
        return { ...view, name: basename(template(view.name)) }
      },
    })
  }
}

function template(name: string): string {
  const path = UI_TEMPLATES[name]
  if (path === undefined) throw new Error(`@bull-board/ui has no template ${name} in ui-files.ts: run bun run scripts/bull-board-ui.ts`)
  return path
}

/** bull-board for `queue`, served under `basePath`. */
export async function dashboardFetch(queue: Queue, basePath: string): Promise<(request: Request) => Response | Promise<Response>> {
  const adapter = new EmbeddedUiAdapter()
  createBullBoard({
    queues: [new BullMQAdapter(queue as never)],
    serverAdapter: adapter,
    // uiBasePath skips bull-board's run-time `require.resolve('@bull-board/ui/package.json')`,
    // which throws in the binary; the adapter takes its files from ui-files.ts whatever it says.
    options: { uiBasePath: dirname(dirname(template('index.ejs'))), uiConfig: { boardTitle: 'highperf jobs' } },
  })
  adapter.setBasePath(basePath)
  // Errors (a 404 included) go to the server's error handler, which answers the JSON envelope
  // with the request id, rather than Hono's plain-text 404 and 500; both apps need it, the
  // adapter's own for what its handlers throw.
  const rethrow = (err: Error): never => {
    throw err
  }
  const board = adapter.registerPlugin().onError(rethrow)
  const app = new Hono().onError(rethrow)
  app.route(basePath, board)
  app.notFound((c) => {
    throw new AppError('not_found', `The queue dashboard has nothing at ${c.req.path}`)
  })
  return (request) => app.fetch(request)
}
