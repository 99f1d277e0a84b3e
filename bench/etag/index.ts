/**
 * bench/etag: what the validators of src/http/etag.ts cost a JSON read of one resource. Per call:
 * the tag of a user's, a message's and a job's JSON (`Bun.hash` + hex), the `If-None-Match` scan,
 * and the whole answer (`jsonWithEtag`) next to the plain `new Response(json)` it replaces; then
 * `GET /users/:id` through the app in-process (`app.handle`, no sockets), a 200 and a 304.
 *
 * Medians over ROUNDS runs of N calls each (2 shared cores: the median is the steadier figure).
 *
 * @example
 * ```sh
 * bun bench/etag/index.ts            # ~10 s
 * ROUNDS=3 bun bench/etag/index.ts   # quick look
 * ```
 */
import { createApp } from '../../src/app.ts'
import { etagOf, ifNoneMatch, jsonWithEtag } from '../../src/http/etag.ts'
import { testDeps } from '../../test/support/deps.ts'
import { median } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 9)
const N = 200_000

const user = JSON.stringify({ id: 1, name: 'Ada Lovelace', email: 'ada@example.com', createdAt: '2026-01-01T12:00:00.000Z' })
const message = JSON.stringify({ id: 1, input: 'x'.repeat(500), system: null, response: 'y'.repeat(1500), model: 'gpt-4o-mini', usage: { promptTokens: 9, completionTokens: 10, totalTokens: 19 }, createdAt: '2026-11-22T05:30:00.000Z' })
const job = JSON.stringify({ id: '019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33', task: 'sleep', input: { ms: 1000, steps: 4 }, state: 'running', priority: 0, runAt: '2026-11-22T05:30:00.000Z', attempts: 1, maxAttempts: 3, timeoutMs: 30000, progress: 50, progressMessage: 'slept 500 of 1000 ms', createdAt: '2026-11-22T05:30:00.000Z', updatedAt: '2026-11-22T05:30:00.500Z', startedAt: '2026-11-22T05:30:00.001Z' })
const tag = etagOf(user)
const plain = new Request('http://x/users/1')
const conditional = new Request('http://x/users/1', { headers: { 'if-none-match': `"a", "b", ${tag}` } })

/**
 * Median ns per call of each case over ROUNDS runs of N calls, the cases interleaved round by
 * round: run one after the other, a case pays for the garbage the one before it left (the
 * figures moved 3× with the order on this machine).
 */
function nsPerCall(cases: Array<[string, () => unknown]>): Array<[string, number]> {
  const runs = cases.map((): number[] => [])
  for (let r = 0; r < ROUNDS; r++) {
    cases.forEach(([, fn], c) => {
      const t0 = Bun.nanoseconds()
      for (let i = 0; i < N; i++) fn()
      ;(runs[c] as number[]).push((Bun.nanoseconds() - t0) / N)
    })
  }
  return cases.map(([what], c) => [what, median(runs[c] as number[])])
}

const rows: Array<[string, number]> = nsPerCall([
  [`etagOf(user JSON, ${user.length} B)`, () => etagOf(user)],
  [`etagOf(job JSON, ${job.length} B)`, () => etagOf(job)],
  [`etagOf(message JSON, ${message.length} B)`, () => etagOf(message)],
  ['JSON.stringify of the user (for scale)', () => JSON.stringify({ id: 1, name: 'Ada Lovelace', email: 'ada@example.com', createdAt: '2026-01-01T12:00:00.000Z' })],
  ['ifNoneMatch: a list of 3, match last', () => ifNoneMatch(`"a", "b", ${tag}`, tag)],
  ['new Response(user JSON) (the untagged answer)', () => new Response(user, { headers: { 'content-type': 'application/json; charset=utf-8' } })],
  ['jsonWithEtag(user JSON): 200', () => jsonWithEtag(plain, user)],
  ['jsonWithEtag(user JSON): 304', () => jsonWithEtag(conditional, user)],
])

const t = await testDeps({ requestTimeout: 30_000, rateLimitRps: 0 })
const app = createApp(t.deps)
const created = await app.handle(new Request('http://localhost/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: user }))
const { id } = (await created.json()) as { id: number }
const served = (await app.handle(new Request(`http://localhost/users/${id}`))).headers.get('etag') ?? ''
const HANDLE_N = 20_000
// Interleaved too, for the same reason.
const through = { 200: [] as number[], 304: [] as number[] }
for (let r = 0; r < ROUNDS; r++) {
  for (const [status, inm] of [[200, null], [304, served]] as const) {
    const t0 = Bun.nanoseconds()
    for (let i = 0; i < HANDLE_N; i++) {
      const res = await app.handle(new Request(`http://localhost/users/${id}`, inm === null ? {} : { headers: { 'if-none-match': inm } }))
      await res.arrayBuffer()
    }
    through[status].push((Bun.nanoseconds() - t0) / HANDLE_N)
  }
}
rows.push(['GET /users/:id through app.handle: 200', median(through[200])])
rows.push(['GET /users/:id through app.handle: 304', median(through[304])])
await t.close()

console.log(`bun ${Bun.version}, ${new Date().toISOString()}, median of ${ROUNDS}\n`)
console.log('| what | ns per call |\n|---|---:|')
for (const [what, ns] of rows) console.log(`| ${what} | ${ns.toFixed(0)} |`)
