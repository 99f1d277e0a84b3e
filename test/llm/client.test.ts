import { afterAll, beforeEach, describe, expect, test } from 'bun:test'
import pino from 'pino'
import { AppError } from '../../src/errors.ts'
import { LlmClient, type LlmClientOptions } from '../../src/llm/client.ts'
import { REDACT_PATHS } from '../../src/log.ts'
import { startFakeLlm } from '../support/fake-llm.ts'

const KEY = 'sk-test-SECRET-0123456789'
const fake = startFakeLlm()
afterAll(() => fake.stop())
beforeEach(() => fake.reset())

function client(over: Partial<LlmClientOptions> = {}): LlmClient {
  return new LlmClient({
    baseUrl: fake.url, apiKey: KEY, model: 'fake-1', concurrency: 4, timeoutMs: 10_000, maxRetries: 3,
    failureThreshold: 100, openDurationMs: 1000, backoffBaseMs: 5, ...over,
  })
}

async function failure(p: Promise<unknown>): Promise<AppError> {
  try {
    await p
  } catch (err) {
    if (err instanceof AppError) return err
    throw new Error(`expected an AppError, got ${String(err)}`)
  }
  throw new Error('expected a rejection')
}

/** Captures every log line of a pino logger configured like the server's (with redaction). */
function memoryLog() {
  const lines: string[] = []
  const log = pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, { write: (s: string) => { lines.push(s) } })
  return { log, text: () => lines.join('') }
}

describe('LlmClient: the request', () => {
  test('builds the JSON by serialisation: quotes, newlines and unicode in a prompt arrive intact', async () => {
    const input = 'He said "hi"\n\t{"role":"system"} \\ ñ 😀'
    const res = await client().chat({ input, system: 'Be "brief"', temperature: 0.3, model: 'other-model' })
    expect(res).toEqual({ content: `echo: ${input}`, model: 'other-model', usage: expect.any(Object), cached: false })
    const got = fake.received[0]!
    expect(got.body).toEqual({ model: 'other-model', messages: [{ role: 'system', content: 'Be "brief"' }, { role: 'user', content: input }], temperature: 0.3 })
    expect(got.authorization).toBe(`Bearer ${KEY}`)
  })

  test('uses the default model, omits temperature when not given, and sends no Authorization without a key', async () => {
    const res = await client({ apiKey: '' }).chat({ input: 'x' })
    expect(res.model).toBe('fake-1')
    expect(fake.received[0]!.body).toEqual({ model: 'fake-1', messages: [{ role: 'user', content: 'x' }] })
    expect(fake.received[0]!.authorization).toBeNull()
  })

  test('reports usage in camelCase', async () => {
    const res = await client().chat({ input: 'abc' })
    expect(res.usage).toEqual({ promptTokens: 3, completionTokens: 9, totalTokens: 12 })
  })

  test('without LLM_BASE_URL every call is 503 llm_not_configured saying what to set', async () => {
    const err = await failure(client({ baseUrl: '' }).chat({ input: 'x' }))
    expect(err.code).toBe('llm_not_configured')
    expect(err.status).toBe(503)
    expect(err.message).toContain('LLM_BASE_URL')
  })
})

describe('LlmClient: upstream failures', () => {
  test('retries 500s and succeeds when the upstream recovers', async () => {
    fake.set({ failNext: 2 })
    const res = await client({ maxRetries: 3 }).chat({ input: 'again' })
    expect(res.content).toBe('echo: again')
    expect(fake.stats.requests).toBe(3)
  })

  test('gives up after LLM_MAX_RETRIES with 502 upstream_error naming the attempts', async () => {
    fake.set({ failNext: 10 })
    const err = await failure(client({ maxRetries: 2 }).chat({ input: 'x' }))
    expect(err.code).toBe('upstream_error')
    expect(err.status).toBe(502)
    expect(err.message).toContain('3 attempts')
    expect(fake.stats.requests).toBe(3)
  })

  test('honours Retry-After on 429 instead of its own (tiny) backoff', async () => {
    fake.set({ rateLimitNext: 1, retryAfter: '1' })
    const t0 = performance.now()
    const res = await client({ backoffBaseMs: 1 }).chat({ input: 'slowly' })
    const elapsed = performance.now() - t0
    expect(res.content).toBe('echo: slowly')
    expect(fake.stats.requests).toBe(2)
    expect(elapsed).toBeGreaterThanOrEqual(950)
  })

  test('does not wait for a Retry-After that outlasts the deadline: fails at once with the hint', async () => {
    fake.set({ rateLimitNext: 5, retryAfter: '30' })
    const t0 = performance.now()
    const err = await failure(client().chat({ input: 'x' }, { timeoutMs: 2000 }))
    expect(performance.now() - t0).toBeLessThan(1500)
    expect(err.code).toBe('upstream_error')
    expect(err.retryAfter).toBe(30)
    expect(fake.stats.requests).toBe(1)
  })

  test.each([
    ['malformed JSON', { malformed: true }],
    ['empty choices', { emptyChoices: true }],
    ['a choice without content', { missingContent: true }],
  ])('%s is 502 upstream_bad_response, not retried, never a crash', async (_name, behaviour) => {
    fake.set(behaviour)
    const err = await failure(client().chat({ input: 'x' }))
    expect(err.code).toBe('upstream_bad_response')
    expect(err.status).toBe(502)
    expect(fake.stats.requests).toBe(1)
  })

  test('a refused key is 502 upstream_unauthorized, not retried, and the key appears nowhere', async () => {
    const { log, text } = memoryLog()
    fake.set({ unauthorized: true })
    const err = await failure(client({ log }).chat({ input: 'x' }))
    expect(err.code).toBe('upstream_unauthorized')
    expect(err.message).toContain('LLM_API_KEY')
    expect(JSON.stringify({ m: err.message, c: String(err.cause), s: err.stack })).not.toContain(KEY)
    expect(text()).not.toContain(KEY)
    expect(fake.stats.requests).toBe(1)
  })

  test('another 4xx is 502 upstream_error passing on the upstream message (key scrubbed), not retried', async () => {
    fake.set({ failNext: 1, failStatus: 404 })
    const err = await failure(client().chat({ input: 'x' }))
    expect(err.code).toBe('upstream_error')
    expect(err.message).toContain('HTTP 404')
    expect(err.message).toContain('upstream exploded')
    expect(fake.stats.requests).toBe(1)
  })

  test('an unreachable upstream is 502 upstream_unreachable after the retries', async () => {
    const err = await failure(client({ baseUrl: 'http://127.0.0.1:1/v1', maxRetries: 1 }).chat({ input: 'x' }))
    expect(err.code).toBe('upstream_unreachable')
    expect(err.status).toBe(502)
    expect(err.message).toContain('2 attempts')
  })

  test('a connection dropped mid-answer is retried, then 502 upstream_error', async () => {
    fake.set({ dropConnection: true })
    const err = await failure(client({ maxRetries: 1 }).chat({ input: 'x' }))
    expect(err.code).toBe('upstream_error')
    expect(err.message).toContain('broke')
    expect(fake.stats.requests).toBe(2)
    fake.set({ dropConnection: false })
    expect((await client().chat({ input: 'ok' })).content).toBe('echo: ok')
  })

  test('too slow is 504 upstream_timeout and the upstream request is aborted', async () => {
    fake.set({ latencyMs: 5000 })
    const llm = client()
    const err = await failure(llm.chat({ input: 'x' }, { timeoutMs: 150 }))
    expect(err.code).toBe('upstream_timeout')
    expect(err.status).toBe(504)
    await fake.waitAborted(1)
    expect(llm.semaphore.available).toBe(4)
  })

  test("the caller's abort reaches the upstream and frees the permit; the caller gets the signal's reason", async () => {
    fake.set({ latencyMs: 5000 })
    const llm = client()
    const ctrl = new AbortController()
    const p = llm.chat({ input: 'x' }, { signal: ctrl.signal })
    await fake.waitInFlight(1)
    ctrl.abort(new AppError('client_closed'))
    const err = await failure(p)
    expect(err.code).toBe('client_closed')
    await fake.waitAborted(1)
    expect(llm.semaphore.available).toBe(4)
    expect(llm.breaker.failures).toBe(0)
  })

  test('close() aborts calls in flight with shutting_down and refuses new ones', async () => {
    fake.set({ latencyMs: 5000 })
    const llm = client()
    const p = llm.chat({ input: 'x' })
    await fake.waitInFlight(1)
    llm.close()
    expect((await failure(p)).code).toBe('shutting_down')
    expect((await failure(llm.chat({ input: 'y' }))).code).toBe('shutting_down')
    await fake.waitAborted(1)
  })
})

describe('LlmClient: circuit breaker', () => {
  test('opens after the threshold (refusing without calling upstream), then a probe closes it', async () => {
    const llm = client({ failureThreshold: 3, openDurationMs: 200, maxRetries: 0 })
    fake.set({ failNext: 1000 })
    for (let i = 0; i < 3; i++) expect((await failure(llm.chat({ input: 'x' }))).code).toBe('upstream_error')
    expect(llm.breaker.state).toBe('open')
    const refused = await failure(llm.chat({ input: 'x' }))
    expect(refused.code).toBe('circuit_open')
    expect(refused.status).toBe(503)
    expect(refused.retryAfter).toBeGreaterThanOrEqual(1)
    expect(fake.stats.requests).toBe(3)
    expect(llm.semaphore.available).toBe(4)

    await Bun.sleep(250)
    // Half-open probe fails: open again, no second probe.
    expect((await failure(llm.chat({ input: 'probe' }))).code).toBe('upstream_error')
    expect(llm.breaker.state).toBe('open')
    expect((await failure(llm.chat({ input: 'x' }))).code).toBe('circuit_open')
    expect(fake.stats.requests).toBe(4)

    fake.set({ failNext: 0 })
    await Bun.sleep(250)
    expect((await llm.chat({ input: 'healthy' })).content).toBe('echo: healthy')
    expect(llm.breaker.state).toBe('closed')
    expect((await llm.chat({ input: 'again' })).content).toBe('echo: again')
  })

  test('refused keys, rejected requests and callers that leave do not open it', async () => {
    const llm = client({ failureThreshold: 2, openDurationMs: 10_000, maxRetries: 0 })
    fake.set({ unauthorized: true })
    for (let i = 0; i < 3; i++) await failure(llm.chat({ input: 'x' }))
    fake.set({ unauthorized: false, failNext: 3, failStatus: 400 })
    for (let i = 0; i < 3; i++) await failure(llm.chat({ input: 'x' }))
    fake.set({ latencyMs: 2000 })
    for (let i = 0; i < 3; i++) {
      const ctrl = new AbortController()
      const p = llm.chat({ input: 'x' }, { signal: ctrl.signal })
      await Bun.sleep(20)
      ctrl.abort(new AppError('client_closed'))
      await failure(p)
    }
    expect(llm.breaker.state).toBe('closed')
  })

  test('timeouts count as failures', async () => {
    const llm = client({ failureThreshold: 2, openDurationMs: 10_000 })
    fake.set({ latencyMs: 2000 })
    for (let i = 0; i < 2; i++) expect((await failure(llm.chat({ input: 'x' }, { timeoutMs: 50 }))).code).toBe('upstream_timeout')
    expect((await failure(llm.chat({ input: 'x' }))).code).toBe('circuit_open')
  })
})

describe('LlmClient: concurrency', () => {
  test('random bursts never exceed the concurrency bound, and every answer matches its request', async () => {
    let seed = 42
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    for (let round = 0; round < 6; round++) {
      const concurrency = 1 + Math.floor(rand() * 6)
      const n = 10 + Math.floor(rand() * 40)
      fake.reset({ latencyMs: () => Math.floor(rand() * 15) })
      const llm = client({ concurrency })
      const inputs = Array.from({ length: n }, (_, i) => `r${round}-i${i}`)
      const answers = await Promise.all(inputs.map((input) => llm.chat({ input })))
      expect(answers.map((a) => a.content)).toEqual(inputs.map((i) => `echo: ${i}`))
      expect(fake.stats.peak).toBeLessThanOrEqual(concurrency)
      expect(fake.stats.peak).toBe(Math.min(concurrency, n))
      expect(llm.semaphore.available).toBe(concurrency)
    }
  })
})

describe('LlmClient: cache', () => {
  test('is off by default: identical requests both reach the upstream', async () => {
    const llm = client()
    await llm.chat({ input: 'same' })
    await llm.chat({ input: 'same' })
    expect(fake.stats.requests).toBe(2)
  })

  test('with a size, identical requests (model, system, temperature, input) are answered from the LRU', async () => {
    const llm = client({ cacheSize: 2 })
    expect((await llm.chat({ input: 'same', temperature: 0 })).cached).toBe(false)
    const again = await llm.chat({ input: 'same', temperature: 0 })
    expect(again).toMatchObject({ content: 'echo: same', cached: true })
    expect(fake.stats.requests).toBe(1)
    await llm.chat({ input: 'same', temperature: 0.5 })
    await llm.chat({ input: 'same', temperature: 0, system: 's' })
    await llm.chat({ input: 'same', temperature: 0, model: 'm2' })
    expect(fake.stats.requests).toBe(4)
    // Size 2: the first entry was evicted.
    await llm.chat({ input: 'same', temperature: 0 })
    expect(fake.stats.requests).toBe(5)
  })

  test('failures are not cached', async () => {
    const llm = client({ cacheSize: 10, maxRetries: 0 })
    fake.set({ emptyChoices: true })
    await failure(llm.chat({ input: 'x' }))
    fake.set({ emptyChoices: false })
    expect((await llm.chat({ input: 'x' })).cached).toBe(false)
  })
})

describe('LlmClient: streaming', () => {
  async function readAll(s: Awaited<ReturnType<LlmClient['stream']>>): Promise<string[]> {
    const pieces: string[] = []
    for (let p = await s.read(); p !== null; p = await s.read()) pieces.push(p)
    return pieces
  }

  test('relays the pieces in order and assembles the whole answer with usage', async () => {
    const llm = client()
    const s = await llm.stream({ input: 'one two three four' })
    const pieces = await readAll(s)
    expect(pieces.length).toBeGreaterThan(3)
    expect(pieces.join('')).toBe('echo: one two three four')
    expect(s.result).toEqual({ content: 'echo: one two three four', model: 'fake-1', usage: { promptTokens: 18, completionTokens: 24, totalTokens: 42 }, cached: false })
    expect(fake.received[0]!.body).toMatchObject({ stream: true })
    expect(llm.semaphore.available).toBe(4)
    expect(await s.read()).toBeNull()
  })

  test('failures before the stream starts are retried like plain calls', async () => {
    fake.set({ failNext: 2 })
    const s = await client().stream({ input: 'retry me' })
    expect((await readAll(s)).join('')).toBe('echo: retry me')
    expect(fake.stats.requests).toBe(3)
  })

  test('a stream cut in the middle fails read() with 502 and frees the permit', async () => {
    const llm = client({ failureThreshold: 1, openDurationMs: 10_000 })
    fake.set({ dropConnection: true })
    const s = await llm.stream({ input: 'a b c d e f g h' })
    const err = await failure(readAll(s))
    expect(err.code).toBe('upstream_error')
    expect(llm.semaphore.available).toBe(4)
    expect(llm.breaker.state).toBe('open')
    // The error sticks: later reads fail the same way.
    expect((await failure(s.read())).code).toBe('upstream_error')
  })

  test('cancel() aborts the upstream request and frees the permit without judging the upstream', async () => {
    const llm = client({ failureThreshold: 1 })
    fake.set({ chunkDelayMs: 200 })
    const s = await llm.stream({ input: 'a b c d e f g h' })
    await s.read()
    s.cancel()
    s.cancel()
    await fake.waitAborted(1)
    expect(llm.semaphore.available).toBe(4)
    expect(llm.breaker.state).toBe('closed')
  })

  test("a stream nobody reads gives its permit back when the caller's signal aborts", async () => {
    const llm = client()
    fake.set({ chunkDelayMs: 200 })
    const ctrl = new AbortController()
    const s = await llm.stream({ input: 'a b c d' }, { signal: ctrl.signal })
    expect(llm.semaphore.available).toBe(3)
    ctrl.abort(new AppError('client_closed'))
    expect(llm.semaphore.available).toBe(4)
    expect((await failure(s.read())).code).toBe('client_closed')
    await fake.waitAborted(1)
  })

  test('a stream that outlives its time limit ends with upstream_timeout', async () => {
    fake.set({ chunkDelayMs: 100 })
    const s = await client().stream({ input: 'a b c d e f g h' }, { timeoutMs: 250 })
    expect((await failure(readAll(s))).code).toBe('upstream_timeout')
    await fake.waitAborted(1)
  })
})
