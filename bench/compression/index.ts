/**
 * bench/compression: the CPU cost of each response codec Bun has built in (zstd, brotli, gzip),
 * per KB of input, at a few levels, on payloads shaped like highperf's compressible answers: a
 * page of users (JSON), a /metrics scrape (Prometheus text) and the OpenAPI document. The
 * levels src/http/compression uses were chosen from this table (bench/README.md#compression).
 *
 * µs/KB is the median over ROUNDS runs of compressing the payload once, divided by its size; the
 * ratio is compressed/original (smaller is better).
 *
 * @example
 * ```sh
 * bun bench/compression/index.ts            # ~20 s, writes bench/results/compression.md
 * ROUNDS=20 bun bench/compression/index.ts  # quick look
 * ```
 */
import { brotliCompressSync, constants } from 'node:zlib'
import { createApp } from '../../src/app.ts'
import { testDeps } from '../../test/support/deps.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian as median } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 60)

const users = JSON.stringify({
  items: Array.from({ length: 100 }, (_, i) => ({ id: i + 1, name: `User number ${i + 1}`, email: `user${i + 1}@example.com`, createdAt: new Date(1_700_000_000_000 + i * 7_919_000).toISOString() })),
  nextCursor: '100',
})
const metrics = Array.from({ length: 60 }, (_, i) => [
  `# HELP http_requests_total_${i} Requests by route and status`,
  `# TYPE http_requests_total_${i} counter`,
  ...['/users', '/users/:id', '/jobs', '/tasks/:name', '/healthz'].flatMap((r) => ['200', '404', '422'].map((s) => `http_requests_total_${i}{method="GET",route="${r}",status="${s}"} ${(i * 7919 + s.length * 31) % 100000}`)),
]).flat().join('\n')
// The real OpenAPI document, from the app built in-process.
const t = await testDeps({ workers: 1 })
const spec = await (await createApp(t.deps).handle(new Request('http://local/swagger/json'))).text()
await t.close()

const payloads: Record<string, Uint8Array<ArrayBuffer>> = { 'users page': new TextEncoder().encode(users), metrics: new TextEncoder().encode(metrics), openapi: new TextEncoder().encode(spec) }

const codecs: Array<[string, (b: Uint8Array<ArrayBuffer>) => Uint8Array]> = [
  ['zstd 1', (b) => Bun.zstdCompressSync(b, { level: 1 })],
  ['zstd 3', (b) => Bun.zstdCompressSync(b, { level: 3 })],
  ['zstd 6', (b) => Bun.zstdCompressSync(b, { level: 6 })],
  ['br 1', (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 1, [constants.BROTLI_PARAM_SIZE_HINT]: b.byteLength } })],
  ['br 4', (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_SIZE_HINT]: b.byteLength } })],
  ['br 6', (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 6, [constants.BROTLI_PARAM_SIZE_HINT]: b.byteLength } })],
  ['br 11', (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: b.byteLength } })],
  ['gzip 1', (b) => Bun.gzipSync(b, { level: 1 })],
  ['gzip 6', (b) => Bun.gzipSync(b, { level: 6 })],
  ['gzip 9', (b) => Bun.gzipSync(b, { level: 9 })],
]

const lines = ['| codec level | ' + Object.keys(payloads).map((p) => `${p} (${(payloads[p] as Uint8Array<ArrayBuffer>).byteLength >> 10} KB): µs/KB · ratio`).join(' | ') + ' |', '|---|' + Object.keys(payloads).map(() => '---|').join('')]
for (const [name, fn] of codecs) {
  const cells: string[] = []
  for (const bytes of Object.values(payloads)) {
    for (let i = 0; i < 5; i++) fn(bytes) // warm-up
    const times: number[] = []
    let out = 0
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now()
      out = fn(bytes).byteLength
      times.push(performance.now() - t0)
    }
    cells.push(`${((median(times) * 1000) / (bytes.byteLength / 1024)).toFixed(2)} · ${(out / bytes.byteLength).toFixed(3)}`)
  }
  lines.push(`| ${name} | ${cells.join(' | ')} |`)
}
writeResult('compression', `bun ${Bun.version}, ${new Date().toISOString()}, median of ${ROUNDS}\n\n${lines.join('\n')}\n`)
