/**
 * `/messages` (seeds 000 and 003): chat with an OpenAI-compatible upstream, every exchange stored
 * in bun:sqlite (or PostgreSQL with `DATABASE_URL`).
 *
 * - `POST /messages` `{input, system?, model?, temperature?}` → 201 + `Location` and the stored
 *   message `{id, input, system, response, model, usage, createdAt}`.
 * - `POST /messages` with `"stream": true` → 200 `text/event-stream`: `event: delta` frames
 *   (`{"content":"…"}`) as the upstream produces tokens, then `event: message` with the stored
 *   message; a failure after the stream began is an `event: error` frame (`{code, message}`).
 *   Failures before the upstream accepted the request are ordinary JSON errors with a status.
 * - `POST /messages/batch` `{inputs: [...], system?, model?, temperature?}` → 200
 *   `{results: [{ok: true, message} | {ok: false, error: {code, message}}]}` in input order.
 *   At most BATCH_LIMIT inputs (413 above); at most LLM_CONCURRENCY upstream calls at once across
 *   the whole server (the client's one semaphore), and one batch never queues more than that many
 *   calls ahead of other requests (the batch fan-out, src/routes/fan-out.ts, with that limit).
 *   Each item gets what is left of the batch's deadline (LLM_TIMEOUT) minus the fan-out's reserve,
 *   so slow items fail in their slots and the batch still answers; a client that disconnects
 *   cancels queued items and aborts running calls.
 * - `GET /messages?limit&cursor` (keyset paging on the id), `GET /messages/:id` (with a weak `ETag`;
 *   `If-None-Match` naming it → 304, src/http/etag.ts).
 *
 * Upstream failures: 503 `llm_not_configured` (set LLM_BASE_URL), 503 `circuit_open` +
 * Retry-After, 502 `upstream_*`, 504 `upstream_timeout` (see src/llm/errors.ts).
 *
 * @example
 * ```ts
 * app.use(messagesRoutes({ llm, messages, config }))
 * // curl -XPOST localhost:3000/messages -H 'content-type: application/json' -d '{"input":"Hola"}'
 * ```
 */
import { Elysia, t } from 'elysia'
import { Type } from '@sinclair/typebox'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import { remainingMs, requestSignal } from '../http/request-state.ts'
import { policyOption } from '../http/route-policy.ts'
import type { LlmClient } from '../llm/client.ts'
import type { ChatRequest, ChatResult } from '../llm/types.ts'
import type { Message, MessageStore } from '../store/messages.ts'
import { andThen } from '../store/maybe.ts'
import { ErrorSchema, NotModified, Page, PageQuery, PositiveIdParams, STORED_TEXT, pageArgs, positiveId, named } from './schemas.ts'
import { jsonWithEtag } from '../http/etag.ts'
import { batchReserveMs, itemError, runBatch } from './fan-out.ts'
import { jsonBody } from '../http/json-body/index.ts'
import { SSE_HEADERS, sseFrame } from '../http/sse.ts'
import { LLM } from './policy.ts'

/** What the messages routes need. */
export interface MessagesRouteDeps {
  llm: LlmClient
  messages: MessageStore
  config: Pick<Config, 'batchLimit' | 'llmConcurrency'>
}

const EXAMPLE_MESSAGE = {
  id: 1, input: 'Hola', system: null, response: '¡Hola! ¿En qué puedo ayudarte?', model: 'gpt-4o-mini',
  usage: { promptTokens: 9, completionTokens: 10, totalTokens: 19 }, createdAt: '2026-11-22T05:30:00.000Z',
}

const UsageSchema = t.Object({
  promptTokens: Type.Integer({ minimum: 0 }),
  completionTokens: Type.Integer({ minimum: 0 }),
  totalTokens: Type.Integer({ minimum: 0 }),
})

/** A stored message as the API returns it. */
export const MessageSchema = named('Message', t.Object(
  {
    id: Type.Integer({ minimum: 1, examples: [1] }),
    input: t.String({ examples: ['Hola'] }),
    system: t.Union([t.String(), t.Null()], { description: 'The system prompt sent, or null' }),
    response: t.String({ examples: ['¡Hola! ¿En qué puedo ayudarte?'] }),
    model: t.String({ description: 'The model that answered', examples: ['gpt-4o-mini'] }),
    usage: t.Union([UsageSchema, t.Null()], { description: 'Token counts the upstream reported, or null' }),
    createdAt: t.String({ format: 'date-time', examples: ['2026-11-22T05:30:00.000Z'] }),
  },
  { examples: [EXAMPLE_MESSAGE] },
))

// Shared by one message and a batch: everything about the exchange except the input.
const system = t.Optional(t.String({ maxLength: 20_000, ...STORED_TEXT, description: 'System prompt sent before the input', examples: ['Answer in one sentence.'] }))
const model = t.Optional(t.String({ minLength: 1, maxLength: 200, ...STORED_TEXT, description: 'Model name (default LLM_MODEL)', examples: ['gpt-4o-mini'] }))
const temperature = t.Optional(t.Number({ minimum: 0, maximum: 2, description: 'Sampling temperature, 0-2 (default: the upstream\'s)', examples: [0.2] }))
const input = t.String({ minLength: 1, maxLength: 100_000, ...STORED_TEXT, description: 'The user message (1-100 000 characters, no U+0000)', examples: ['Hola'] })

const NewMessageSchema = named('NewMessage', t.Object(
  { input, system, model, temperature, stream: t.Optional(t.Boolean({ description: 'Relay the answer as Server-Sent Events', default: false })) },
  { examples: [{ input: 'Hola', temperature: 0.2 }, { input: 'Tell me a short story', stream: true }] },
))

const ItemResult = t.Union([
  t.Object({ ok: t.Literal(true), message: MessageSchema }),
  t.Object({ ok: t.Literal(false), error: t.Object({ code: t.String({ examples: ['upstream_timeout'] }), message: t.String() }) }),
])

function chatRequest(b: { input: string; system?: string | undefined; model?: string | undefined; temperature?: number | undefined }): ChatRequest {
  const req: ChatRequest = { input: b.input }
  if (b.system !== undefined) req.system = b.system
  if (b.model !== undefined) req.model = b.model
  if (b.temperature !== undefined) req.temperature = b.temperature
  return req
}

async function store(messages: MessageStore, req: ChatRequest, r: ChatResult): Promise<Message> {
  return await messages.create({ input: req.input, system: req.system, response: r.content, model: r.model, usage: r.usage })
}

/**
 * Runs a streamed exchange and answers with SSE: deltas, then the stored message (or an error
 * frame). Cancelling the response body (client gone) cancels the upstream request.
 */
async function streamAnswer(llm: LlmClient, messages: MessageStore, req: ChatRequest, signal: AbortSignal): Promise<Response> {
  const s = await llm.stream(req, { signal })
  let closed = false
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const piece = await s.read()
        if (piece !== null) return controller.enqueue(sseFrame('delta', { content: piece }))
        const result = s.result as ChatResult
        controller.enqueue(sseFrame('message', await store(messages, req, result)))
      } catch (err) {
        if (closed) return
        try { controller.enqueue(sseFrame('error', itemError(err))) } catch { /* the client is gone */ }
      }
      closed = true
      try { controller.close() } catch { /* already closed */ }
    },
    cancel() {
      closed = true
      s.cancel()
    },
  })
  return new Response(body, { headers: SSE_HEADERS })
}

/** Elysia plugin with the four `/messages` routes. */
export function messagesRoutes({ llm, messages, config }: MessagesRouteDeps) {
  const inFlight = Math.max(1, config.llmConcurrency)
  return new Elysia({ name: 'highperf/routes/messages' })
    .use(policyOption)
    .post(
      '/messages',
      async ({ body, request, set, status }) => {
        const req = chatRequest(body)
        const signal = requestSignal(request)
        if (body.stream === true) return streamAnswer(llm, messages, req, signal)
        const result = await llm.chat(req, { signal, timeoutMs: remainingMs(request) })
        const message = await store(messages, req, result)
        set.headers.location = `/messages/${message.id}`
        return status(201, message)
      },
      {
        policy: LLM,
        ...jsonBody(NewMessageSchema),
        detail: {
          summary: 'Sends one message to the LLM and stores the exchange',
          description:
            '201 with the stored message. With "stream": true, 200 text/event-stream: `delta` events ({content}), then a ' +
            '`message` event with the stored message, or an `error` event ({code, message}). 503 llm_not_configured when ' +
            'LLM_BASE_URL is unset; 503 circuit_open + Retry-After; 502 upstream_*; 504 upstream_timeout.',
          tags: ['messages'],
        },
        response: { 201: MessageSchema, 400: ErrorSchema, 413: ErrorSchema, 422: ErrorSchema, 502: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema },
      },
    )
    .post(
      '/messages/batch',
      async ({ body, request }) => {
        if (body.inputs.length > config.batchLimit) {
          throw new AppError('payload_too_large', `A batch holds at most ${config.batchLimit} inputs (BATCH_LIMIT); this one has ${body.inputs.length}: split it`)
        }
        llm.assertConfigured()
        const signal = requestSignal(request)
        const total = remainingMs(request)
        // Each input gets what is left of the batch's deadline (LLM_TIMEOUT) minus the fan-out's
        // reserve, so its timeout lands in its slot and the batch still answers 200.
        const outcomes = await runBatch(body.inputs, async (text, { signal: itemSignal, timeoutMs }) => {
          const req = chatRequest({ ...body, input: text })
          return store(messages, req, await llm.chat(req, timeoutMs === undefined ? { signal: itemSignal } : { signal: itemSignal, timeoutMs }))
        }, { limit: inFlight, signal, remainingMs: () => remainingMs(request), reserveMs: batchReserveMs(total) })
        return { results: outcomes.map((o) => (o.ok ? { ok: true as const, message: o.value } : o)) }
      },
      {
        policy: LLM,
        ...jsonBody(t.Object(
          {
            inputs: t.Array(input, { description: `User messages, at most BATCH_LIMIT (${config.batchLimit}); more is a 413` }),
            system, model, temperature,
          },
          { examples: [{ inputs: ['Hola', 'Adiós'], system: 'Answer in one sentence.' }] },
        )),
        detail: {
          summary: 'Sends many messages to the LLM; one result per input, in input order',
          description:
            `At most LLM_CONCURRENCY (${config.llmConcurrency}) upstream calls run at once across the server. A failing ` +
            'input is reported in its slot (ok: false) and does not fail the batch. The whole batch is bounded by LLM_TIMEOUT.',
          tags: ['messages'],
        },
        response: {
          200: t.Object({ results: t.Array(ItemResult) }, {
            examples: [{ results: [{ ok: true, message: EXAMPLE_MESSAGE }, { ok: false, error: { code: 'upstream_timeout', message: 'The LLM upstream did not answer within 60000 ms (LLM_TIMEOUT)' } }] }],
          }),
          400: ErrorSchema, 413: ErrorSchema, 422: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema,
        },
      },
    )
    .get(
      '/messages',
      ({ query }) => messages.list(pageArgs(query)),
      {
        policy: LLM,
        query: PageQuery,
        detail: { summary: 'Lists stored messages in id order, a page at a time', description: "Keyset paging: pass the previous page's nextCursor as ?cursor=.", tags: ['messages'] },
        response: { 200: Page(MessageSchema, EXAMPLE_MESSAGE), 422: ErrorSchema },
      },
    )
    .get(
      '/messages/:id',
      ({ params, request }) => {
        const id = positiveId(params.id)
        return andThen(id === undefined ? null : messages.get(id), (message) => {
          if (message === null) throw new AppError('not_found', `message ${params.id} does not exist`)
          return jsonWithEtag(request, JSON.stringify(message))
        })
      },
      {
        policy: LLM,
        params: PositiveIdParams,
        detail: {
          summary: 'Reads one stored message',
          description: '404 if unknown; 422 if the id is not a positive integer. Carries a weak ETag; If-None-Match with it answers 304 without a body.',
          tags: ['messages'],
        },
        response: { 200: MessageSchema, 304: NotModified, 404: ErrorSchema, 422: ErrorSchema },
      },
    )
}
