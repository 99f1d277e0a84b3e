/**
 * The shapes the LLM client speaks: what highperf asks (one exchange: an optional system prompt
 * and one user input) and what it gets back. The wire format is OpenAI's chat completions API,
 * which Ollama also serves under `/v1`.
 *
 * @example
 * ```ts
 * const req: ChatRequest = { input: 'Hola', system: 'Answer in Spanish', temperature: 0.2 }
 * const res: ChatResult = await llm.chat(req, { signal })
 * res.content // 'Hola, ¿en qué puedo ayudarte?'
 * ```
 */

/** One exchange to send upstream. */
export interface ChatRequest {
  /** The user's message. */
  input: string
  /** Optional system prompt, sent before the input. */
  system?: string
  /** Model name; LLM_MODEL when absent. */
  model?: string
  /** Sampling temperature (0-2); the upstream's default when absent. */
  temperature?: number
}

/** Token counts as the upstream reported them (camelCase of OpenAI's `usage`). */
export interface Usage {
  promptTokens: number
  completionTokens: number
  totalTokens: number
}

/** The upstream's answer. */
export interface ChatResult {
  /** The assistant's text. */
  content: string
  /** The model that answered (the upstream's `model`, else the one asked for). */
  model: string
  /** Null when the upstream sent none (some servers omit it on streams). */
  usage: Usage | null
  /** True when served from the LRU (LLM_CACHE_SIZE) without an upstream call. */
  cached: boolean
}

/** Per-call options. */
export interface CallOptions {
  /** Cancellation: the request's signal (deadline and client disconnect). */
  signal?: AbortSignal
  /** Time bound of this call in ms (default: the client's `timeoutMs`, i.e. LLM_TIMEOUT). */
  timeoutMs?: number
}
