/**
 * The chat completions wire format: building the request JSON (by serialisation only, never by
 * pasting text into a template, so quotes and newlines in a prompt are just data) and reading the
 * answer defensively (any field may be missing; nothing here indexes blindly or throws a
 * `TypeError`: an unusable answer is `upstream_bad_response`).
 *
 * @example
 * ```ts
 * const body = requestBody('gpt-4o-mini', { input: 'He said "hi"\n' }, false)
 * const result = parseCompletion(await res.text(), 'gpt-4o-mini')
 * ```
 */
import { AppError } from '../errors.ts'
import type { ChatRequest, ChatResult, Usage } from './types.ts'

/**
 * The JSON body of `POST /chat/completions`. Streams ask for a final usage chunk
 * (`stream_options.include_usage`, OpenAI; Ollama accepts it too).
 *
 * @example
 * ```ts
 * requestBody('llama3.2', { input: 'Hola', system: 'Be brief', temperature: 0 }, true)
 * ```
 */
export function requestBody(model: string, req: ChatRequest, stream: boolean): string {
  const messages = req.system === undefined
    ? [{ role: 'user', content: req.input }]
    : [{ role: 'system', content: req.system }, { role: 'user', content: req.input }]
  const body: Record<string, unknown> = { model, messages }
  if (req.temperature !== undefined) body.temperature = req.temperature
  if (stream) {
    body.stream = true
    body.stream_options = { include_usage: true }
  }
  return JSON.stringify(body)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0
}

/**
 * OpenAI's `usage` object in camelCase, or null when absent or not an object.
 *
 * @example
 * ```ts
 * usageOf({ prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 }) // { promptTokens: 3, … }
 * ```
 */
export function usageOf(u: unknown): Usage | null {
  if (!isRecord(u)) return null
  const promptTokens = count(u.prompt_tokens)
  const completionTokens = count(u.completion_tokens)
  const total = count(u.total_tokens)
  return { promptTokens, completionTokens, totalTokens: total || promptTokens + completionTokens }
}

/**
 * Reads a plain (non-streaming) answer. Malformed JSON, no `choices`, or a first choice without
 * string content → `AppError('upstream_bad_response')`.
 *
 * @example
 * ```ts
 * parseCompletion('{"model":"m","choices":[{"message":{"content":"hi"}}]}', 'm').content // 'hi'
 * ```
 */
export function parseCompletion(text: string, askedModel: string): ChatResult {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new AppError('upstream_bad_response', 'The LLM upstream answered with malformed JSON')
  }
  if (!isRecord(json)) throw new AppError('upstream_bad_response', 'The LLM upstream answered with JSON that is not an object')
  const choices = json.choices
  if (!Array.isArray(choices) || choices.length === 0) throw new AppError('upstream_bad_response', 'The LLM upstream answered with no choices')
  const first: unknown = choices[0]
  const message = isRecord(first) ? first.message : undefined
  const content = isRecord(message) ? message.content : undefined
  if (typeof content !== 'string') throw new AppError('upstream_bad_response', 'The LLM upstream answered without message content')
  return { content, model: modelOf(json, askedModel), usage: usageOf(json.usage), cached: false }
}

function modelOf(json: Record<string, unknown>, asked: string): string {
  return typeof json.model === 'string' && json.model !== '' ? json.model : asked
}

/** What one streamed chunk carries. */
export interface StreamChunk {
  /** Text to append ('' when the chunk carries none). */
  content: string
  /** True when the chunk ends the choice (`finish_reason` set). */
  finished: boolean
  usage: Usage | null
  model: string | undefined
}

/**
 * Reads one `data:` payload of a stream (not `[DONE]`). A chunk without choices is normal (the
 * final usage chunk); a payload that is not a JSON object is `upstream_bad_response`.
 *
 * @example
 * ```ts
 * parseChunk('{"choices":[{"delta":{"content":"Hi"}}]}').content // 'Hi'
 * ```
 */
export function parseChunk(data: string): StreamChunk {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    throw new AppError('upstream_bad_response', 'The LLM upstream sent a stream event that is not JSON')
  }
  if (!isRecord(json)) throw new AppError('upstream_bad_response', 'The LLM upstream sent a stream event that is not a JSON object')
  if (json.error !== undefined) throw new AppError('upstream_bad_response', 'The LLM upstream reported an error in the middle of its stream')
  const first: unknown = Array.isArray(json.choices) ? json.choices[0] : undefined
  const delta = isRecord(first) ? first.delta : undefined
  const content = isRecord(delta) && typeof delta.content === 'string' ? delta.content : ''
  const finished = isRecord(first) && typeof first.finish_reason === 'string'
  return { content, finished, usage: usageOf(json.usage), model: typeof json.model === 'string' && json.model !== '' ? json.model : undefined }
}
