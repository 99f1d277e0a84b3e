/**
 * The typed client of the README ("A typed client"): Eden's treaty over `type App` from
 * src/app.ts. `tsc --noEmit` type-checks this file (tsconfig includes test/), so the example's
 * types are the server's; the tests run it against a real server on a free port, and the README
 * must show the lines between the two `README example` markers verbatim.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { treaty } from '@elysiajs/eden'
import type { App } from '../src/app.ts'
import { testConfig } from '../src/config.ts'
import { silentLogger } from '../src/log.ts'
import { startServer, type RunningServer } from '../src/server.ts'
import { tempDir } from './support/deps.ts'

/** The README's example, run as written; returns what it got so the tests can check it. */
async function readmeExample(baseUrl: string, token: string) {
  // README example: begin
  const api = treaty<App>(baseUrl, { headers: { authorization: `Bearer ${token}` } })

  const created = await api.users.post({ name: 'Ada', email: 'ada@example.com' })
  if (created.error) throw new Error(created.error.value.error.code) // 409 conflict, 422 validation_failed, …
  const user = await api.users({ id: created.data.id }).get() // data: { id, name, email, createdAt } | null
  const page = await api.users.get({ query: { limit: '10' } }) // data: { items, nextCursor } | null
  const car = await api.api.cars({ id: 1 }).get()
  const primes = await api.tasks({ name: 'primes' }).post({ n: 100 }) // a task's result: JSON, typed unknown
  // README example: end
  return { created, user, page, car, primes }
}

const TOKEN = 'eden-example-token'
const dir = tempDir('highperf-eden-')
let srv: RunningServer
let base: string

beforeAll(async () => {
  // API_TOKEN set: POST /users passes only if the client really sends the header it was given.
  const config = testConfig({ port: 0, host: '127.0.0.1', dataDir: join(dir.dir, 'data'), filesDir: join(dir.dir, 'files'), workers: 1, requestTimeout: 30_000, apiToken: TOKEN })
  srv = await startServer(config, { log: silentLogger() })
  base = srv.url.replace(/\/$/, '')
})

afterAll(async () => {
  await srv.shutdown()
  dir.remove()
})

describe('the Eden treaty client of the README, against a live server', () => {
  test('runs as written: typed data for users, cars and a task result', async () => {
    const { created, user, page, car, primes } = await readmeExample(base, TOKEN)
    expect(created.status).toBe(201)
    expect(created.data).toMatchObject({ name: 'Ada', email: 'ada@example.com' })
    expect(user.data).toEqual(created.data)
    expect(page.data?.items.map((u) => u.email)).toEqual(['ada@example.com'])
    expect(page.data?.nextCursor).toBeNull()
    expect(car.data?.id).toBe(1)
    expect(primes.data).toEqual({ n: 100, count: 25 })
  })

  test('a refusal comes back as a typed error carrying the JSON envelope, not a throw', async () => {
    const api = treaty<App>(base, { headers: { authorization: `Bearer ${TOKEN}` } })
    const again = await api.users.post({ name: 'Ada', email: 'ADA@example.com' })
    expect(again.data).toBeNull()
    expect(again.error?.status).toBe(409)
    expect(again.error?.value.error.code).toBe('conflict')
    // The front's refusals (401, 429, 503) are not in a route's response schemas, so not in its
    // error type either; they still come back as an error with their status and the envelope.
    const anonymous = await treaty<App>(base).users.post({ name: 'Bob', email: 'bob@example.com' })
    expect(anonymous.status).toBe(401)
    expect(anonymous.error?.value).toMatchObject({ error: { code: 'unauthorized' } })
  })

  test('the types refuse what the server refuses: a body of the wrong shape, a route that does not exist', async () => {
    const api = treaty<App>(base, { headers: { authorization: `Bearer ${TOKEN}` } })
    // @ts-expect-error: name must be a string (tsc fails here if the client stopped seeing the schema)
    const wrong = await api.users.post({ name: 42, email: 'x@example.com' })
    expect(wrong.error?.status).toBe(422)
    // @ts-expect-error: no such route in App
    const nowhere = await api.nowhere.get()
    expect(nowhere.error?.status).toBe(404)
  })

  test('the README shows the example verbatim', async () => {
    const source = await Bun.file(import.meta.path).text()
    const begin = source.indexOf('// README example: begin\n')
    const end = source.indexOf('  // README example: end')
    expect(begin).toBeGreaterThan(0)
    const example = source.slice(source.indexOf('\n', begin) + 1, end).replaceAll(/^ {2}/gm, '')
    const readme = await Bun.file(new URL('../README.md', import.meta.url)).text()
    const block = /```ts\n(import \{ treaty \} from '@elysiajs\/eden'[\s\S]*?\n)```/.exec(readme)?.[1]
    expect(block).toBeDefined()
    expect(block).toContain("import type { App } from './src/app.ts'")
    expect(block).toContain(example)
  })
})
