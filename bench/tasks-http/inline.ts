/**
 * The baseline of bench/tasks-http: plain `Bun.serve` that runs tasks INLINE on its one thread,
 * with the same executor and tasks the pool's workers use (same validation, same work), and no
 * framework or middleware (so the baseline is, if anything, flattered). `GET /healthz` -> `ok`;
 * `POST /tasks/:name` -> the task's result. Started by bench/tasks-http/index.ts with PORT set.
 *
 * @example
 * ```sh
 * PORT=4000 bun bench/tasks-http/inline.ts
 * curl -d '{"n":1000000}' localhost:4000/tasks/primes
 * ```
 */
import { AppError } from '../../src/errors.ts'
import { createExecutor } from '../../src/tasks/execute.ts'
import { TASKS } from '../../src/tasks/registry.ts'

const exec = createExecutor(TASKS)
const never = new AbortController().signal
const ctx = { signal: never, progress() {} }

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  routes: {
    '/healthz': () => new Response('ok'),
    '/tasks/:name': {
      POST: async (req) => {
        try {
          const result = await exec.run(req.params.name, await req.text(), ctx)
          return Response.json(result)
        } catch (err) {
          const status = err instanceof AppError ? err.status : 500
          return Response.json({ error: { code: err instanceof AppError ? err.code : 'internal', message: String(err) } }, { status })
        }
      },
    },
  },
  fetch: () => new Response('not found', { status: 404 }),
})
process.on('SIGTERM', () => { server.stop(true); process.exit(0) })
