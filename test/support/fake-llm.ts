/**
 * A real local HTTP server speaking OpenAI's chat completions protocol, for tests and benchmarks
 * of the LLM client: `POST /chat/completions` (also under `/v1`), plain JSON or streaming SSE
 * (`data: {...}\n\n` … `data: [DONE]\n\n`). Its answer echoes the last user message
 * (`echo: <input>`), so a caller can check which answer belongs to which request.
 *
 * It can be told (`fake.set({...})`, any time) to be slow, to fail the next N requests with 500,
 * to answer 429 with `Retry-After`, to send malformed JSON or empty `choices`, to refuse the key
 * (401, echoing the key in its body as OpenAI half does), or to drop the connection mid-answer. It
 * counts requests, the peak number in flight, and requests whose client went away (aborted).
 *
 * @example
 * ```ts
 * const fake = startFakeLlm({ latencyMs: 50 })
 * const client = new LlmClient({ baseUrl: fake.url, apiKey: 'sk-test', model: 'fake-1', concurrency: 4 })
 * fake.set({ failNext: 2 })      // the next two requests get 500
 * fake.stats.peak                // most requests in flight at once
 * fake.stop()
 * ```
 */
import type { Server } from 'bun'

/** How the fake behaves; every field can be changed between (or during) requests. */
export interface FakeBehaviour {
  /** Delay before answering (ms), or a function giving one per request (random delays). */
  latencyMs: number | ((body: FakeRequestBody) => number)
  /** The next N requests answer `failStatus` (default 500); counts down. */
  failNext: number
  failStatus: number
  /** The next N requests answer 429 with `Retry-After: retryAfter` (seconds); counts down. */
  rateLimitNext: number
  retryAfter: string
  /** Every request answers 401, echoing the presented key in the error message. */
  unauthorized: boolean
  /** Plain answers are a truncated JSON document. */
  malformed: boolean
  /** Plain answers have `choices: []`. */
  emptyChoices: boolean
  /** Plain answers have a choice whose message has no content. */
  missingContent: boolean
  /** The connection is cut after part of the answer was sent (plain and streaming). */
  dropConnection: boolean
  /** Requests for which this returns true answer `failStatus` (e.g. inputs containing "fail"). */
  failWhen: ((body: FakeRequestBody) => boolean) | null
  /** Streaming: pause between chunks (ms). */
  chunkDelayMs: number
  /** Streaming: include a final usage chunk with empty choices (OpenAI's `include_usage`). */
  streamUsage: boolean
}

/** What the fake parsed from a request body. */
export interface FakeRequestBody {
  model?: string
  messages?: Array<{ role: string; content: string }>
  temperature?: number
  stream?: boolean
}

/** Counters the tests read. */
export interface FakeStats {
  /** Requests received (all paths, all outcomes). */
  requests: number
  /** Requests currently being answered. */
  inFlight: number
  /** Most requests in flight at once since the last reset. */
  peak: number
  /** Requests whose client went away before the fake finished answering. */
  aborted: number
  /** Answers finished completely. */
  completed: number
}

/** A running fake upstream. */
export interface FakeLlm {
  /** Base URL as LLM_BASE_URL takes it, e.g. `http://127.0.0.1:40123/v1`. */
  url: string
  stats: FakeStats
  /** Every request's parsed body and Authorization header, in arrival order. */
  received: Array<{ body: FakeRequestBody; authorization: string | null; raw: string }>
  set(b: Partial<FakeBehaviour>): void
  /** Resets counters, received requests and behaviour to the defaults plus `b`. */
  reset(b?: Partial<FakeBehaviour>): void
  /** Resolves once `stats.inFlight >= n` (polls; rejects after `timeoutMs`). */
  waitInFlight(n: number, timeoutMs?: number): Promise<void>
  /** Resolves once `stats.aborted >= n` (polls; rejects after `timeoutMs`). */
  waitAborted(n: number, timeoutMs?: number): Promise<void>
  stop(): void
}

const DEFAULTS: FakeBehaviour = {
  latencyMs: 0, failNext: 0, failStatus: 500, rateLimitNext: 0, retryAfter: '1', unauthorized: false,
  malformed: false, emptyChoices: false, missingContent: false, dropConnection: false, failWhen: null, chunkDelayMs: 0, streamUsage: true,
}

const encoder = new TextEncoder()

function lastUser(body: FakeRequestBody): string {
  const msgs = body.messages ?? []
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]?.role === 'user') return String(msgs[i]?.content)
  return ''
}

/** Splits an answer into a few token-like chunks (words with their following space). */
function chunksOf(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [text]
}

/** Sleeps `ms`, resolving early (to `false`) when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  if (ms <= 0) return Promise.resolve(true)
  return new Promise((resolve) => {
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true) }, ms)
    const onAbort = () => { clearTimeout(t); resolve(false) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > end) throw new Error(`fake LLM: timed out waiting for ${what}`)
    await Bun.sleep(5)
  }
}

/**
 * Starts the fake on 127.0.0.1 and a free port.
 *
 * @example
 * ```ts
 * const fake = startFakeLlm({ latencyMs: (b) => Math.random() * 20 })
 * ```
 */
export function startFakeLlm(initial: Partial<FakeBehaviour> = {}): FakeLlm {
  // Mutated in place, so a counter (failNext) decremented by a request in flight is never lost.
  const behaviour: FakeBehaviour = { ...DEFAULTS, ...initial }
  const stats: FakeStats = { requests: 0, inFlight: 0, peak: 0, aborted: 0, completed: 0 }
  const received: FakeLlm['received'] = []

  const enter = () => {
    stats.inFlight++
    if (stats.inFlight > stats.peak) stats.peak = stats.inFlight
  }
  const leave = (state: { done: boolean }, aborted: boolean) => {
    if (state.done) return
    state.done = true
    stats.inFlight--
    if (aborted) stats.aborted++
    else stats.completed++
  }

  async function handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname
    stats.requests++
    if (req.method !== 'POST' || (path !== '/chat/completions' && path !== '/v1/chat/completions')) {
      return Response.json({ error: { message: `no route ${req.method} ${path}` } }, { status: 404 })
    }
    const raw = await req.text()
    let body: FakeRequestBody
    try {
      body = JSON.parse(raw) as FakeRequestBody
    } catch {
      return Response.json({ error: { message: 'request body is not JSON' } }, { status: 400 })
    }
    const authorization = req.headers.get('authorization')
    received.push({ body, authorization, raw })
    const state = { done: false }
    enter()
    const b = behaviour
    const latency = typeof b.latencyMs === 'function' ? b.latencyMs(body) : b.latencyMs
    if (!(await pause(latency, req.signal))) {
      leave(state, true)
      return new Response('gone')
    }
    if (b.unauthorized) {
      leave(state, false)
      const key = (authorization ?? '').replace(/^Bearer /, '')
      return Response.json({ error: { message: `Incorrect API key provided: ${key}`, type: 'invalid_request_error', code: 'invalid_api_key' } }, { status: 401 })
    }
    if (b.rateLimitNext > 0) {
      b.rateLimitNext--
      leave(state, false)
      return Response.json({ error: { message: 'Rate limit reached' } }, { status: 429, headers: { 'retry-after': b.retryAfter } })
    }
    if (b.failNext > 0 || b.failWhen?.(body) === true) {
      if (b.failNext > 0) b.failNext--
      leave(state, false)
      return Response.json({ error: { message: 'upstream exploded' } }, { status: b.failStatus })
    }
    const model = body.model ?? 'fake-1'
    const answer = `echo: ${lastUser(body)}`
    const usage = { prompt_tokens: lastUser(body).length, completion_tokens: answer.length, total_tokens: lastUser(body).length + answer.length }
    if (body.stream === true) return streamAnswer(req, state, b, model, answer, usage)
    if (b.dropConnection) {
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(encoder.encode('{"id":"chatcmpl-1","choices":[{"index":0,'))
          // No reason given: Bun then cuts the connection without printing an error.
          setTimeout(() => { leave(state, false); c.error() }, 10)
        },
      })
      return new Response(stream, { headers: { 'content-type': 'application/json' } })
    }
    leave(state, false)
    if (b.malformed) return new Response('{"id":"chatcmpl-1","choices":[{"message":', { headers: { 'content-type': 'application/json' } })
    const choices = b.emptyChoices ? [] : [{ index: 0, message: b.missingContent ? { role: 'assistant' } : { role: 'assistant', content: answer }, finish_reason: 'stop' }]
    return Response.json({ id: 'chatcmpl-1', object: 'chat.completion', created: Math.floor(Date.now() / 1000), model, choices, usage })
  }

  function streamAnswer(req: Request, state: { done: boolean }, b: FakeBehaviour, model: string, answer: string, usage: object): Response {
    const parts = chunksOf(answer)
    const frame = (obj: unknown) => encoder.encode(`data: ${JSON.stringify(obj)}\n\n`)
    const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model }
    const stream = new ReadableStream<Uint8Array>({
      async start(c) {
        try {
          c.enqueue(frame({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }))
          for (let i = 0; i < parts.length; i++) {
            if (!(await pause(b.chunkDelayMs, req.signal))) return leave(state, true)
            if (b.dropConnection && i === Math.floor(parts.length / 2)) {
              // Let the status line and the first chunks leave first: this is a cut mid-stream.
              await Bun.sleep(20)
              leave(state, false)
              c.error()
              return
            }
            c.enqueue(frame({ ...base, choices: [{ index: 0, delta: { content: parts[i] }, finish_reason: null }] }))
          }
          c.enqueue(frame({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }))
          if (b.streamUsage) c.enqueue(frame({ ...base, choices: [], usage }))
          c.enqueue(encoder.encode('data: [DONE]\n\n'))
          leave(state, false)
          c.close()
        } catch {
          leave(state, true)
        }
      },
      cancel() {
        leave(state, true)
      },
    })
    return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
  }

  const server: Server<undefined> = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 60, fetch: handle })
  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    stats,
    received,
    set(b) {
      Object.assign(behaviour, b)
    },
    reset(b = {}) {
      Object.assign(behaviour, DEFAULTS, b)
      stats.requests = 0
      stats.peak = stats.inFlight
      stats.aborted = 0
      stats.completed = 0
      received.length = 0
    },
    waitInFlight: (n, timeoutMs = 5000) => until(() => stats.inFlight >= n, timeoutMs, `${n} requests in flight`),
    waitAborted: (n, timeoutMs = 5000) => until(() => stats.aborted >= n, timeoutMs, `${n} aborted requests`),
    stop() {
      server.stop(true)
    },
  }
}
