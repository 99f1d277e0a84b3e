/**
 * The LLM client: OpenAI's `POST {LLM_BASE_URL}/chat/completions` (Ollama serves the same under
 * `/v1`), plain or streamed, with the outbound resilience of docs/sync.md in the order the design
 * gives: semaphore → circuit breaker → retry (backoff + jitter, Retry-After) → fetch(signal).
 *
 * - **One per server**: its {@link Semaphore} (LLM_CONCURRENCY) bounds upstream calls across every
 *   request and batch; its {@link CircuitBreaker} (CB_FAILURE_THRESHOLD, CB_OPEN_DURATION) guards
 *   the one upstream. While the breaker is open, calls are refused at once (503 + Retry-After),
 *   without queueing for a permit first.
 * - **Time**: every call has a deadline (`timeoutMs`, default LLM_TIMEOUT; routes pass what is left
 *   of the request's). It covers the wait for a permit, every attempt and every backoff; a
 *   Retry-After that would outlast it is not waited for. Passing it gives `upstream_timeout` (504).
 * - **Cancellation**: the caller's signal reaches `fetch`, so a client that leaves aborts the
 *   upstream request (and frees the permit) at once.
 * - **Secrets**: the API key goes only into the `Authorization` header. It is never logged and never
 *   in an error message (see errors.ts for how upstream messages are scrubbed).
 *
 * @example
 * ```ts
 * const llm = LlmClient.fromConfig(config, log)
 * const answer = await llm.chat({ input: 'Hola' }, { signal: requestSignal(request), timeoutMs: remainingMs(request) })
 * const stream = await llm.stream({ input: 'Tell me a story' }, { signal })
 * for (let piece = await stream.read(); piece !== null; piece = await stream.read()) send(piece)
 * stream.result // { content, model, usage, cached: false }
 * ```
 */
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { CircuitBreaker, type BreakerState } from '../sync/circuit-breaker.ts'
import { retry } from '../sync/retry.ts'
import { Semaphore } from '../sync/semaphore.ts'
import { ChatCache } from './cache.ts'
import { failureOf, finalError, isUpstreamFault, UpstreamFailure } from './errors.ts'
import { readChatStream, type ChatStream } from './stream.ts'
import type { CallOptions, ChatRequest, ChatResult } from './types.ts'
import { parseCompletion, requestBody } from './wire.ts'

export type { ChatStream }

/** Settings of {@link LlmClient}; {@link LlmClient.fromConfig} fills them from the config. */
export interface LlmClientOptions {
  /** OpenAI-compatible base URL without the trailing `/chat/completions` ('' = not configured). */
  baseUrl: string
  /** Bearer token ('' sends no Authorization header, as Ollama needs none). */
  apiKey: string
  /** Model used when a request names none. */
  model: string
  /** Most upstream calls at once, across all callers. */
  concurrency: number
  /** Default deadline of one call, ms. */
  timeoutMs: number
  /** Retries after the first attempt on 429/5xx/network errors. */
  maxRetries: number
  /** Consecutive failed calls that open the breaker. */
  failureThreshold: number
  /** How long the open breaker refuses, ms. */
  openDurationMs: number
  /** Answers kept in the LRU (0 or absent: no cache). */
  cacheSize?: number
  /** Backoff scale (default 200 ms): the delay after attempt k is uniform in [0, base·2^(k-1)). */
  backoffBaseMs?: number
  /** Cap of one backoff or Retry-After wait (default 30 s). */
  backoffMaxMs?: number
  log?: Logger
  /** Clock of the breaker (tests). */
  now?: () => number
  /** Randomness of the backoff jitter (tests). */
  random?: () => number
  /** Breaker transitions (metrics, logs). */
  onBreakerState?: (state: BreakerState) => void
}

const NOT_CONFIGURED =
  'No LLM upstream is configured: set LLM_BASE_URL (e.g. https://api.openai.com/v1 with LLM_API_KEY, ' +
  'or http://127.0.0.1:11434/v1 for a local Ollama)'

/** One admitted call: its signal, deadline and the permit/breaker slot it holds until `finish`. */
class Call {
  readonly ctrl = new AbortController()
  readonly deadlineAt: number
  readonly timeoutMs: number
  timer: ReturnType<typeof setTimeout> | undefined
  onParentAbort: (() => void) | undefined
  parent: AbortSignal | undefined
  permit = false
  admitted = false
  attempts = 0
  finished = false
  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs
    this.deadlineAt = performance.now() + timeoutMs
  }
}

/** See the module comment. */
export class LlmClient {
  readonly semaphore: Semaphore
  readonly breaker: CircuitBreaker
  readonly #opts: LlmClientOptions
  readonly #url: string
  readonly #headers: Record<string, string>
  readonly #cache: ChatCache | null
  readonly #active = new Set<Call>()
  #closed = false

  /**
   * @example
   * ```ts
   * new LlmClient({ baseUrl: 'http://127.0.0.1:11434/v1', apiKey: '', model: 'llama3.2', concurrency: 4,
   *   timeoutMs: 60_000, maxRetries: 3, failureThreshold: 20, openDurationMs: 2_000 })
   * ```
   */
  constructor(opts: LlmClientOptions) {
    this.#opts = opts
    this.#url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`
    this.#headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    if (opts.apiKey !== '') this.#headers.authorization = `Bearer ${opts.apiKey}`
    this.semaphore = new Semaphore(opts.concurrency)
    const log = opts.log
    this.breaker = new CircuitBreaker({
      failureThreshold: opts.failureThreshold,
      openDurationMs: opts.openDurationMs,
      ...(opts.now ? { now: opts.now } : {}),
      onStateChange: (s) => {
        log?.warn({ state: s }, 'LLM upstream circuit breaker changed state')
        opts.onBreakerState?.(s)
      },
    })
    this.#cache = opts.cacheSize !== undefined && opts.cacheSize > 0 ? new ChatCache(opts.cacheSize) : null
  }

  /**
   * A client from the server's configuration.
   *
   * @example
   * ```ts
   * const llm = LlmClient.fromConfig(config, log)
   * ```
   */
  static fromConfig(config: Config, log?: Logger, extra: Partial<LlmClientOptions> = {}): LlmClient {
    return new LlmClient({
      baseUrl: config.llmBaseUrl,
      apiKey: config.llmApiKey,
      model: config.llmModel,
      concurrency: config.llmConcurrency,
      timeoutMs: config.llmTimeout,
      maxRetries: config.llmMaxRetries,
      failureThreshold: config.cbFailureThreshold,
      openDurationMs: config.cbOpenDuration,
      cacheSize: config.llmCacheSize,
      ...(log ? { log } : {}),
      ...extra,
    })
  }

  /** True when LLM_BASE_URL is set. */
  get configured(): boolean {
    return this.#opts.baseUrl !== ''
  }

  /** The default model (LLM_MODEL). */
  get defaultModel(): string {
    return this.#opts.model
  }

  /** Answers in the cache (0 when the cache is off). */
  get cacheSize(): number {
    return this.#cache?.size ?? 0
  }

  /**
   * Throws `llm_not_configured` (503, saying what to set) unless LLM_BASE_URL is set.
   *
   * @example
   * ```ts
   * llm.assertConfigured() // before fanning out a batch
   * ```
   */
  assertConfigured(): void {
    if (!this.configured) throw new AppError('llm_not_configured', NOT_CONFIGURED)
    if (this.#closed) throw new AppError('shutting_down', 'The LLM client is closed')
  }

  /**
   * One exchange, answered whole. Errors are AppErrors: `llm_not_configured` 503, `circuit_open`
   * 503 (+ retryAfter), `upstream_error`/`upstream_unauthorized`/`upstream_bad_response`/
   * `upstream_unreachable` 502, `upstream_timeout` 504, or the signal's own reason (`client_closed`).
   *
   * @example
   * ```ts
   * const { content, usage } = await llm.chat({ input: 'Hola', temperature: 0 }, { signal })
   * ```
   */
  async chat(req: ChatRequest, opts: CallOptions = {}): Promise<ChatResult> {
    this.assertConfigured()
    const model = req.model ?? this.#opts.model
    const hit = this.#cache?.get(model, req)
    if (hit !== undefined) return { ...hit, cached: true }
    const call = this.#open(opts)
    try {
      await this.#admit(call)
      const body = requestBody(model, req, false)
      const result = await this.#withRetry(call, async (signal) => {
        const res = await this.#post(body, signal)
        let text: string
        try {
          text = await res.text()
        } catch (err) {
          throw new UpstreamFailure('The connection to the LLM upstream broke while it was answering', 0, true, undefined, err, true)
        }
        return parseCompletion(text, model)
      })
      this.#finish(call, undefined)
      this.#cache?.set(model, req, result)
      return result
    } catch (err) {
      throw this.#fail(call, err)
    }
  }

  /**
   * One exchange, streamed. Resolves once the upstream has accepted the request (HTTP 200): until
   * then failures are retried and thrown as by {@link LlmClient.chat}, so a caller can still answer
   * with a proper status. Afterwards the stream holds its permit until it ends, fails or is
   * cancelled; failures then come from `read()` and are not retried (text was already passed on).
   *
   * @example
   * ```ts
   * const s = await llm.stream({ input: 'Hola' }, { signal })
   * let piece; while ((piece = await s.read()) !== null) process.stdout.write(piece)
   * ```
   */
  async stream(req: ChatRequest, opts: CallOptions = {}): Promise<ChatStream> {
    this.assertConfigured()
    const model = req.model ?? this.#opts.model
    const call = this.#open(opts)
    let res: Response
    try {
      await this.#admit(call)
      const body = requestBody(model, req, true)
      res = await this.#withRetry(call, (signal) => this.#post(body, signal))
      if (res.body === null) throw new AppError('upstream_bad_response', 'The LLM upstream answered a stream request without a body')
    } catch (err) {
      throw this.#fail(call, err)
    }
    return readChatStream(res.body, model, call.ctrl, (err) => {
      if (err === undefined) {
        this.#finish(call, undefined)
        return undefined
      }
      return this.#fail(call, err)
    })
  }

  /**
   * Aborts every call in flight (their callers get `shutting_down`) and refuses new ones. For
   * shutdown, after the server stopped taking requests.
   *
   * @example
   * ```ts
   * closers.push(() => llm.close())
   * ```
   */
  close(): void {
    this.#closed = true
    for (const call of this.#active) call.ctrl.abort(new AppError('shutting_down', 'The server is shutting down'))
  }

  /** Starts the call's clock and links its signal to the caller's. */
  #open(opts: CallOptions): Call {
    const ms = Math.max(0, Math.min(opts.timeoutMs ?? this.#opts.timeoutMs, this.#opts.timeoutMs))
    const call = new Call(ms)
    const parent = opts.signal
    if (parent !== undefined) {
      if (parent.aborted) call.ctrl.abort(parent.reason)
      else {
        call.parent = parent
        call.onParentAbort = () => call.ctrl.abort(parent.reason)
        parent.addEventListener('abort', call.onParentAbort, { once: true })
      }
    }
    if (ms !== Infinity && !call.ctrl.signal.aborted) {
      call.timer = setTimeout(() => call.ctrl.abort(new AppError('upstream_timeout', `The LLM upstream did not answer within ${ms} ms (LLM_TIMEOUT)`)), ms)
    }
    this.#active.add(call)
    return call
  }

  /** Breaker check (without queueing), a permit, then the breaker's admission. */
  async #admit(call: Call): Promise<void> {
    if (this.breaker.retryAfterMs() > 0) throw this.#circuitOpen()
    await this.semaphore.acquire(call.ctrl.signal)
    call.permit = true
    if (!this.breaker.allow()) throw this.#circuitOpen()
    call.admitted = true
  }

  #circuitOpen(): AppError {
    return new AppError('circuit_open', 'The LLM upstream failed repeatedly; its circuit breaker is open, retry later', {
      retryAfter: Math.max(1, Math.ceil(this.breaker.retryAfterMs() / 1000)),
    })
  }

  #withRetry<T>(call: Call, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = call.ctrl.signal
    return retry(
      () => {
        call.attempts++
        return attempt(signal)
      },
      {
        attempts: this.#opts.maxRetries + 1,
        baseMs: this.#opts.backoffBaseMs ?? 200,
        maxMs: this.#opts.backoffMaxMs ?? 30_000,
        signal,
        ...(this.#opts.random ? { random: this.#opts.random } : {}),
        // A Retry-After that outlasts the deadline is not worth waiting for: fail now, saying so.
        retryable: (e) => e instanceof UpstreamFailure && e.retryable &&
          (e.retryAfterMs === undefined || performance.now() + e.retryAfterMs < call.deadlineAt),
        retryAfterMs: (e) => (e instanceof UpstreamFailure ? e.retryAfterMs : undefined),
        onRetry: (e, n, delayMs) => {
          this.#opts.log?.warn({ attempt: n, delayMs, status: e instanceof UpstreamFailure ? e.status : undefined }, 'retrying the LLM upstream')
        },
      },
    )
  }

  async #post(body: string, signal: AbortSignal): Promise<Response> {
    let res: Response
    try {
      res = await fetch(this.#url, { method: 'POST', headers: this.#headers, body, signal })
    } catch (err) {
      if (signal.aborted) throw err
      throw new UpstreamFailure('The LLM upstream cannot be reached', 0, true, undefined, err)
    }
    if (!res.ok) throw await failureOf(res, this.#opts.apiKey)
    return res
  }

  /** Ends a successful call: breaker success, permit back, timers cleared. */
  #finish(call: Call, err: unknown): void {
    if (call.finished) return
    call.finished = true
    if (call.admitted) {
      if (err === undefined) this.breaker.success()
      else if (isUpstreamFault(err)) this.breaker.failure()
      else if (err instanceof AppError && err.code.startsWith('upstream_')) this.breaker.success() // it answered (401, 4xx)
      else this.breaker.abandon() // the caller left: nothing learnt about the upstream
    }
    if (call.permit) this.semaphore.release()
    if (call.timer !== undefined) clearTimeout(call.timer)
    if (call.onParentAbort !== undefined) call.parent?.removeEventListener('abort', call.onParentAbort)
    this.#active.delete(call)
  }

  /** Ends a failed call and returns the error its caller should see. */
  #fail(call: Call, err: unknown): unknown {
    let e = err
    const signal = call.ctrl.signal
    if (signal.aborted) {
      const reason: unknown = signal.reason
      // The request's own deadline (the deadline middleware's reason) while we waited on the upstream.
      e = reason instanceof AppError && reason.code === 'deadline_exceeded'
        ? new AppError('upstream_timeout', 'The LLM upstream did not answer before the request deadline (LLM_TIMEOUT)')
        : reason
    }
    this.#finish(call, e)
    return e instanceof UpstreamFailure ? finalError(e, call.attempts) : e
  }
}
