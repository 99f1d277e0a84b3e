/**
 * bench/json-body: what a JSON body of up to MAX_BODY_SIZE (1 MiB) costs the event loop, step by
 * step (src/json/depth.ts, src/http/json-body): reading it as text, the depth scan, `JSON.parse`,
 * the schema check and, for a rejected body, building its 422; then the whole request through
 * the app (`app.handle`, no sockets), legitimate and hostile bodies alike.
 *
 * The goal of issue 11 is that no body within the size limit holds the loop over 5 ms. The depth
 * scan and the bounded 422 keep hostile bodies at the cost of legitimate ones; `JSON.parse` of a
 * dense 1 MiB document is itself well over 5 ms on this machine, and that is the floor for any
 * route that must see the parsed body (/batch, /jobs, /messages): the table says by how much.
 *
 * Medians and maxima over ROUNDS runs (2 shared cores: the median is the steadier figure).
 *
 * @example
 * ```sh
 * bun bench/json-body/index.ts            # ~30 s, writes bench/results/json-body.md
 * ROUNDS=5 bun bench/json-body/index.ts   # quick look
 * ```
 */
import { createApp } from '../../src/app.ts'
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../../src/json/depth.ts'
import { testDeps } from '../../test/support/deps.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian as median } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 15)
const MiB = 1 << 20

const numbers = (bytes: number) => Array.from({ length: Math.floor(bytes / 2) }, () => '0').join(',')
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)

/** [label, route, body, legitimate?] — every body is just under 1 MiB. */
const BODIES: Array<[string, string, string, boolean]> = [
  ['batch: 50 items, 20 KB string inputs', '/batch', JSON.stringify({ items: Array.from({ length: 50 }, () => ({ task: 'echo', input: { text: 'x'.repeat(20_000) } })) }), true],
  ['batch: 1000 items, arrays of numbers', '/batch', `{"items":[${Array.from({ length: 1000 }, () => `{"task":"echo","input":[${numbers(1000)}]}`).join(',')}]}`, true],
  ['batch: 1 item, 60-deep nest of numbers', '/batch', `{"items":[{"task":"echo","input":${'['.repeat(58)}${numbers(MiB - 300)}${']'.repeat(58)}}]}`, true],
  ['messages/batch: 1 MB of numbers as inputs', '/messages/batch', `{"inputs":[${numbers(MiB - 20)}]}`, false],
  ['batch: root array of 1 MB numbers', '/batch', `[${numbers(MiB - 10)}]`, false],
  ['users: name = 1 MB array 60 deep', '/users', `{"email":"a@b.co","name":${'['.repeat(60)}${numbers(MiB - 200)}${']'.repeat(60)}}`, false],
  ['users: crafted 800 KB email', '/users', JSON.stringify({ name: 'a', email: `a@a${'.a'.repeat(400_000)}!` }), false],
  ['batch: [ x 500 000 (too deep)', '/batch', deep(500_000), false],
]

function stats(xs: number[]): string {
  return `${median(xs).toFixed(2)} / ${Math.max(...xs).toFixed(2)}`
}

const t0 = await testDeps({ rateLimitRps: 0, batchLimit: 1000 })
const app = createApp(t0.deps)

const rows: string[] = []
for (const [label, route, body, legit] of BODIES) {
  const text: number[] = []
  const scan: number[] = []
  const parse: number[] = []
  const whole: number[] = []
  let status = 0
  // Bytes, as a body arrives from a socket (a string body would skip the UTF-8 decoding).
  const bytes = new TextEncoder().encode(body)
  for (let r = 0; r < ROUNDS; r++) {
    let a = performance.now()
    const s = await new Request('http://local/', { method: 'POST', body: bytes }).text()
    text.push(performance.now() - a)
    a = performance.now()
    const over = jsonDepthExceeds(s, MAX_JSON_DEPTH)
    scan.push(performance.now() - a)
    a = performance.now()
    if (!over) JSON.parse(s)
    parse.push(performance.now() - a)
    a = performance.now()
    const res = await app.handle(new Request(`http://localhost${route}`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/json' } }))
    await res.arrayBuffer()
    whole.push(performance.now() - a)
    status = res.status
  }
  rows.push(`| ${label} | ${legit ? 'yes' : 'no'} | ${(body.length / MiB).toFixed(2)} | ${stats(text)} | ${stats(scan)} | ${stats(parse)} | ${stats(whole)} | ${status} |`)
}
await t0.close()

const table = [
  '| body | legitimate | MiB | text() ms (median / max) | depth scan ms | JSON.parse ms | whole request ms | status |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n')
const md = `# bench/json-body\n\n${ROUNDS} rounds, ${new Date().toISOString()}, Bun ${Bun.version}. "whole request" is \`app.handle\` through the front and the route ` +
  '(for /batch a legitimate body also runs its items on the pool, which the main thread only waits for). A body refused by the scan is never parsed (JSON.parse 0).\n\n' + table + '\n'
writeResult('json-body', md, table)
