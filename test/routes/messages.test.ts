import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import pino from 'pino'
import { createApp } from '../../src/app.ts'
import type { Config } from '../../src/config.ts'
import { LlmClient, type LlmClientOptions } from '../../src/llm/client.ts'
import { REDACT_PATHS, type Logger } from '../../src/log.ts'
import type { Message } from '../../src/store/messages.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'
import { startFakeLlm } from '../support/fake-llm.ts'

type Envelope = { error: { code: string; message: string; requestId: string; details?: Array<{ path: string }> } }
type Item = { ok: true; message: Message } | { ok: false; error: { code: string; message: string } }

const KEY = 'sk-route-SECRET-9876543210'
const fake = startFakeLlm()
let t: TestDeps
const clients: LlmClient[] = []
const servers: Array<{ stop(force?: boolean): unknown }> = []

beforeAll(async () => {
  t = await testDeps({ rateLimitRps: 0, llmBaseUrl: fake.url, llmApiKey: KEY, llmModel: 'fake-1', llmConcurrency: 3, batchLimit: 50 })
})
afterAll(async () => {
  for (const s of servers) s.stop(true)
  for (const c of clients) c.close()
  await t.close()
  fake.stop()
})
beforeEach(() => fake.reset())

/** An app over the shared deps with its own config and LLM client (so each test gets a fresh breaker). */
function appWith(config: Partial<Config> = {}, llm: Partial<LlmClientOptions> = {}, log?: Logger) {
  const cfg = { ...t.deps.config, ...config }
  const client = LlmClient.fromConfig(cfg, log, { backoffBaseMs: 5, ...llm })
  clients.push(client)
  const app = createApp({ ...t.deps, config: cfg, llm: client, ...(log ? { log } : {}) })
  const post = (path: string, body: unknown) =>
    app.handle(new Request(`http://localhost${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }))
  const get = (path: string) => app.handle(new Request(`http://localhost${path}`))
  return { app, client, post, get }
}

/** The same app on a real socket, for disconnects and streaming. */
function serve(app: ReturnType<typeof appWith>['app']): string {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: app.fetch })
  servers.push(server)
  return `http://127.0.0.1:${server.port}`
}

/** Polls until `cond` holds (the server's side of a disconnect settles a few ticks after the fake's). */
async function eventually(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!cond() && performance.now() < end) await Bun.sleep(5)
}

function memoryLog() {
  const lines: string[] = []
  const log = pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, { write: (s: string) => { lines.push(s) } })
  return { log, text: () => lines.join('') }
}

function frames(text: string): Array<{ event: string; data: unknown }> {
  return text.split('\n\n').filter((b) => b.trim() !== '').map((b) => {
    const event = /^event: (.*)$/m.exec(b)?.[1] ?? ''
    const data = /^data: (.*)$/m.exec(b)?.[1] ?? 'null'
    return { event, data: JSON.parse(data) as unknown }
  })
}

describe('POST /messages, GET /messages', () => {
  test('answers 201 with the stored message and a Location; GET reads it back', async () => {
    const { post, get } = appWith()
    const res = await post('/messages', { input: 'Hola "mundo"', system: 'Be brief', temperature: 0.5 })
    expect(res.status).toBe(201)
    const m = (await res.json()) as Message
    expect(m).toEqual({
      id: expect.any(Number), input: 'Hola "mundo"', system: 'Be brief', response: 'echo: Hola "mundo"', model: 'fake-1',
      usage: { promptTokens: 12, completionTokens: 18, totalTokens: 30 }, createdAt: expect.any(String),
    })
    expect(res.headers.get('location')).toBe(`/messages/${m.id}`)
    expect(await (await get(`/messages/${m.id}`)).json()).toEqual(m)
    expect(await t.deps.messages.get(m.id)).toEqual(m)
    expect(fake.received[0]!.body).toMatchObject({ temperature: 0.5, messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Hola "mundo"' }] })
  })

  test('the request names the model; the answer reports the one that replied', async () => {
    const { post } = appWith()
    const m = (await (await post('/messages', { input: 'x', model: 'llama3.2' })).json()) as Message
    expect(m.model).toBe('llama3.2')
  })

  test('GET /messages pages through everything with its cursor', async () => {
    const { post, get } = appWith()
    for (let i = 0; i < 5; i++) expect((await post('/messages', { input: `page ${i}` })).status).toBe(201)
    const ids: number[] = []
    let url = '/messages?limit=2'
    for (;;) {
      const page = (await (await get(url)).json()) as { items: Message[]; nextCursor: string | null }
      ids.push(...page.items.map((m) => m.id))
      if (page.nextCursor === null) break
      url = `/messages?limit=2&cursor=${page.nextCursor}`
    }
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(ids.length).toBe(await t.deps.messages.count())
  })

  test('bad ids, limits and bodies are clear 4xx, never a 500', async () => {
    const { post, get } = appWith()
    expect((await get('/messages/abc')).status).toBe(422)
    const missing = await get('/messages/999999')
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as Envelope).error.code).toBe('not_found')
    expect((await get('/messages?limit=0')).status).toBe(422)
    expect((await get('/messages?cursor=x')).status).toBe(422)
    const noInput = await post('/messages', { system: 'x' })
    expect(noInput.status).toBe(422)
    expect(((await noInput.json()) as Envelope).error.details?.[0]?.path).toBe('/input')
    expect((await post('/messages', { input: '' })).status).toBe(422)
    expect((await post('/messages', { input: 'x', temperature: 3 })).status).toBe(422)
    expect((await post('/messages', { input: 'x', model: '' })).status).toBe(422)
    expect((await post('/messages', '{"input":')).status).toBe(400)
    expect((await post('/messages/batch', { inputs: ['ok', ''] })).status).toBe(422)
    expect(fake.stats.requests).toBe(0)
  })
})

describe('upstream errors as HTTP answers', () => {
  test('without LLM_BASE_URL: 503 llm_not_configured saying what to set; reads still work', async () => {
    const { post, get } = appWith({ llmBaseUrl: '' })
    for (const [path, body] of [['/messages', { input: 'x' }], ['/messages', { input: 'x', stream: true }], ['/messages/batch', { inputs: ['x'] }]] as const) {
      const res = await post(path, body)
      expect(res.status).toBe(503)
      const { error } = (await res.json()) as Envelope
      expect(error.code).toBe('llm_not_configured')
      expect(error.message).toContain('LLM_BASE_URL')
    }
    expect((await get('/messages')).status).toBe(200)
  })

  test('unreachable: 502 upstream_unreachable', async () => {
    const { post } = appWith({ llmBaseUrl: 'http://127.0.0.1:1/v1', llmMaxRetries: 1 })
    const res = await post('/messages', { input: 'x' })
    expect(res.status).toBe(502)
    expect(((await res.json()) as Envelope).error.code).toBe('upstream_unreachable')
  })

  test('too slow: 504 upstream_timeout within LLM_TIMEOUT, and the upstream request is aborted', async () => {
    fake.set({ latencyMs: 5000 })
    const { post } = appWith({ llmTimeout: 300 })
    const t0 = performance.now()
    const res = await post('/messages', { input: 'x' })
    expect(performance.now() - t0).toBeLessThan(3000)
    expect(res.status).toBe(504)
    expect(((await res.json()) as Envelope).error.code).toBe('upstream_timeout')
    await fake.waitAborted(1)
  })

  test('malformed upstream JSON and empty choices: 502 upstream_bad_response', async () => {
    const { post } = appWith()
    for (const b of [{ malformed: true }, { emptyChoices: true }]) {
      fake.reset(b)
      const res = await post('/messages', { input: 'x' })
      expect(res.status).toBe(502)
      expect(((await res.json()) as Envelope).error.code).toBe('upstream_bad_response')
    }
  })

  test('breaker open: 503 circuit_open with Retry-After, without calling the upstream', async () => {
    fake.set({ failNext: 1000 })
    const { post } = appWith({ llmMaxRetries: 0 }, { failureThreshold: 2, openDurationMs: 5000 })
    expect((await post('/messages', { input: 'x' })).status).toBe(502)
    expect((await post('/messages', { input: 'x' })).status).toBe(502)
    const res = await post('/messages', { input: 'x' })
    expect(res.status).toBe(503)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(((await res.json()) as Envelope).error.code).toBe('circuit_open')
    expect(fake.stats.requests).toBe(2)
  })

  test('a refused key: 502 upstream_unauthorized; the key is in no response and no log line', async () => {
    const { log, text } = memoryLog()
    fake.set({ unauthorized: true })
    const { post } = appWith({ logLevel: 'trace' }, {}, log)
    const res = await post('/messages', { input: 'x' })
    expect(res.status).toBe(502)
    const body = await res.text()
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'upstream_unauthorized' } })
    expect(body).toContain('LLM_API_KEY')
    expect(body).not.toContain(KEY)
    const streamed = await post('/messages', { input: 'x', stream: true })
    expect(streamed.status).toBe(502)
    expect(await streamed.text()).not.toContain(KEY)
    fake.set({ unauthorized: false, failNext: 3 })
    await post('/messages', { input: 'retried' })
    expect(fake.received.every((r) => r.authorization === `Bearer ${KEY}`)).toBe(true)
    expect(text()).toContain('request failed')
    expect(text()).not.toContain(KEY)
  })
})

describe('POST /messages/batch', () => {
  test('results come back in input order under random upstream delays, within the concurrency bound', async () => {
    fake.set({ latencyMs: () => Math.floor(Math.random() * 30) })
    const { post, client } = appWith()
    for (let round = 0; round < 4; round++) {
      const inputs = Array.from({ length: 10 + Math.floor(Math.random() * 30) }, (_, i) => `round ${round} input ${i}`)
      const res = await post('/messages/batch', { inputs, system: 'sys' })
      expect(res.status).toBe(200)
      const { results } = (await res.json()) as { results: Item[] }
      expect(results.map((r) => (r.ok ? r.message.response : r.error.code))).toEqual(inputs.map((i) => `echo: ${i}`))
      expect(results.map((r) => (r.ok ? r.message.input : ''))).toEqual(inputs)
      const ids = results.map((r) => (r.ok ? r.message.id : 0))
      expect(new Set(ids).size).toBe(inputs.length)
      for (const r of results) if (r.ok) expect(await t.deps.messages.get(r.message.id)).toEqual(r.message)
    }
    expect(fake.stats.peak).toBeLessThanOrEqual(3)
    expect(fake.stats.peak).toBe(3)
    expect(client.semaphore.available).toBe(3)
  })

  test('LLM_CONCURRENCY bounds upstream calls across the whole server: batches and single messages together', async () => {
    fake.set({ latencyMs: () => 5 + Math.floor(Math.random() * 20) })
    const { post } = appWith()
    const work = [
      post('/messages/batch', { inputs: Array.from({ length: 20 }, (_, i) => `a${i}`) }),
      post('/messages/batch', { inputs: Array.from({ length: 20 }, (_, i) => `b${i}`) }),
      ...Array.from({ length: 8 }, (_, i) => post('/messages', { input: `single ${i}` })),
    ]
    const answers = await Promise.all(work)
    expect(answers.map((r) => r.status)).toEqual([200, 200, 201, 201, 201, 201, 201, 201, 201, 201])
    expect(fake.stats.requests).toBe(48)
    expect(fake.stats.peak).toBe(3)
  })

  test('a failing input fails in its slot; the others succeed', async () => {
    fake.set({ failWhen: (b) => (b.messages?.at(-1)?.content ?? '').includes('fail') })
    const { post } = appWith({ llmMaxRetries: 0 })
    const res = await post('/messages/batch', { inputs: ['ok 1', 'fail 2', 'ok 3', 'fail 4'] })
    expect(res.status).toBe(200)
    const { results } = (await res.json()) as { results: Item[] }
    expect(results.map((r) => r.ok)).toEqual([true, false, true, false])
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'upstream_error' } })
  })

  test('more than BATCH_LIMIT inputs: 413 before any upstream call; an empty batch is empty', async () => {
    const { post } = appWith()
    const res = await post('/messages/batch', { inputs: Array.from({ length: 51 }, () => 'x') })
    expect(res.status).toBe(413)
    expect(((await res.json()) as Envelope).error.message).toContain('BATCH_LIMIT')
    expect(await (await post('/messages/batch', { inputs: [] })).json()).toEqual({ results: [] })
    expect(fake.stats.requests).toBe(0)
  })

  test('the whole batch is bounded by its deadline: slow items fail in their slots and the batch still answers', async () => {
    fake.set({ latencyMs: (b) => ((b.messages?.at(-1)?.content ?? '').startsWith('fast') ? 5 : 5000) })
    const { post } = appWith({ llmTimeout: 1500, llmConcurrency: 2 })
    const t0 = performance.now()
    const res = await post('/messages/batch', { inputs: ['fast 0', 'fast 1', 'slow 2', 'slow 3', 'slow 4', 'slow 5'] })
    const elapsed = performance.now() - t0
    expect(res.status).toBe(200)
    expect(elapsed).toBeLessThan(1500 + 500)
    const { results } = (await res.json()) as { results: Item[] }
    expect(results.slice(0, 2).map((r) => r.ok)).toEqual([true, true])
    expect(results[2]).toMatchObject({ ok: false, error: { code: 'upstream_timeout' } })
    expect(results[3]).toMatchObject({ ok: false, error: { code: 'upstream_timeout' } })
    for (const r of results.slice(4)) expect(r.ok ? 'ok' : r.error.code).toBe('deadline_exceeded')
    await fake.waitAborted(2)
  })

  test('cache on (LLM_CACHE_SIZE): identical inputs reach the upstream once, each exchange is still stored', async () => {
    const { post } = appWith({ llmCacheSize: 10, llmConcurrency: 1 })
    const { results } = (await (await post('/messages/batch', { inputs: ['same', 'same', 'same'] })).json()) as { results: Item[] }
    expect(fake.stats.requests).toBe(1)
    expect(new Set(results.map((r) => (r.ok ? r.message.id : 0))).size).toBe(3)
  })
})

describe('cancellation over a real socket', () => {
  test('a client that disconnects aborts its upstream request and frees the permit', async () => {
    fake.set({ latencyMs: 10_000 })
    const { app, client } = appWith()
    const base = serve(app)
    const ctrl = new AbortController()
    const p = fetch(`${base}/messages`, { method: 'POST', body: JSON.stringify({ input: 'x' }), headers: { 'content-type': 'application/json' }, signal: ctrl.signal }).catch(() => 'aborted')
    await fake.waitInFlight(1)
    ctrl.abort()
    expect(await p).toBe('aborted')
    await fake.waitAborted(1)
    await eventually(() => client.semaphore.available === 3)
    expect(client.semaphore.available).toBe(3)
  })

  test('a disconnected batch aborts the running calls and never sends the queued ones', async () => {
    fake.set({ latencyMs: 10_000 })
    const { app, client } = appWith({ llmConcurrency: 2 })
    const base = serve(app)
    const ctrl = new AbortController()
    const p = fetch(`${base}/messages/batch`, { method: 'POST', body: JSON.stringify({ inputs: Array.from({ length: 10 }, (_, i) => `q${i}`) }), headers: { 'content-type': 'application/json' }, signal: ctrl.signal }).catch(() => 'aborted')
    await fake.waitInFlight(2)
    ctrl.abort()
    expect(await p).toBe('aborted')
    await fake.waitAborted(2)
    await eventually(() => client.semaphore.available === 2)
    await Bun.sleep(100)
    expect(fake.stats.requests).toBe(2)
    expect(client.semaphore.available).toBe(2)
    expect(client.semaphore.waiting).toBe(0)
  })
})

describe('streaming POST /messages', () => {
  test('relays the tokens as SSE and stores the whole answer at the end', async () => {
    const { app, get } = appWith()
    const base = serve(app)
    const res = await fetch(`${base}/messages`, { method: 'POST', body: JSON.stringify({ input: 'tell me a story', stream: true }), headers: { 'content-type': 'application/json' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/event-stream')
    const events = frames(await res.text())
    const deltas = events.filter((e) => e.event === 'delta').map((e) => (e.data as { content: string }).content)
    expect(deltas.length).toBeGreaterThan(2)
    expect(deltas.join('')).toBe('echo: tell me a story')
    const last = events.at(-1)!
    expect(last.event).toBe('message')
    const m = last.data as Message
    expect(m).toMatchObject({ input: 'tell me a story', response: 'echo: tell me a story', model: 'fake-1', usage: { totalTokens: expect.any(Number) } })
    expect(await (await get(`/messages/${m.id}`)).json()).toEqual(m)
  })

  test('a failure before the stream starts is a JSON error with its status', async () => {
    fake.set({ failNext: 10 })
    const { post } = appWith({ llmMaxRetries: 1 })
    const res = await post('/messages', { input: 'x', stream: true })
    expect(res.status).toBe(502)
    expect(((await res.json()) as Envelope).error.code).toBe('upstream_error')
  })

  test('a stream cut mid-way ends with an error event and stores nothing', async () => {
    fake.set({ dropConnection: true })
    const { post } = appWith()
    const before = await t.deps.messages.count()
    const res = await post('/messages', { input: 'a b c d e f g h', stream: true })
    expect(res.status).toBe(200)
    const events = frames(await res.text())
    expect(events.some((e) => e.event === 'delta')).toBe(true)
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { code: 'upstream_error' } })
    expect(await t.deps.messages.count()).toBe(before)
  })

  test('a client that leaves mid-stream aborts the upstream stream and frees the permit', async () => {
    fake.set({ chunkDelayMs: 300 })
    const { app, client } = appWith()
    const base = serve(app)
    const ctrl = new AbortController()
    const res = await fetch(`${base}/messages`, { method: 'POST', body: JSON.stringify({ input: 'a b c d e f g h i j', stream: true }), headers: { 'content-type': 'application/json' }, signal: ctrl.signal })
    const reader = res.body!.getReader()
    await reader.read()
    ctrl.abort()
    await fake.waitAborted(1)
    await eventually(() => client.semaphore.available === 3)
    expect(client.semaphore.available).toBe(3)
  })
})

describe('OpenAPI', () => {
  test('documents the four routes', async () => {
    const { get } = appWith()
    const doc = (await (await get('/swagger/json')).json()) as { paths: Record<string, Record<string, { summary?: string }>> }
    expect(doc.paths['/messages']?.post?.summary).toBeString()
    expect(doc.paths['/messages']?.get?.summary).toBeString()
    expect(doc.paths['/messages/batch']?.post?.summary).toBeString()
    expect(doc.paths['/messages/{id}']?.get?.summary).toBeString()
  })
})
