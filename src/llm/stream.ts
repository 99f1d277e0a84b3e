/**
 * Reading a streamed chat completion: the upstream's SSE events become text pieces, and the
 * whole answer is assembled as they pass. The call that owns the stream (its permit, breaker slot
 * and timers) is ended exactly once, through `settle`, whichever way the stream ends: the last
 * event, a cut connection, malformed data, or an abort (client gone, LLM_TIMEOUT) even when
 * nobody is reading at that moment.
 *
 * @example
 * ```ts
 * const s = readChatStream(res.body!, 'gpt-4o-mini', ctrl, (err) => (err === undefined ? done() : failed(err)))
 * for (let piece = await s.read(); piece !== null; piece = await s.read()) send(piece)
 * s.result // { content, model, usage, cached: false }
 * ```
 */
import { AppError } from '../errors.ts'
import { UpstreamFailure } from './errors.ts'
import { sseData } from './sse.ts'
import type { ChatResult, Usage } from './types.ts'
import { parseChunk } from './wire.ts'

/** A streamed answer: read pieces until null, then {@link ChatStream.result} holds the whole. */
export interface ChatStream {
  /** The model asked for. */
  readonly model: string
  /** The next piece of text, or null at the end. Rejects (with an AppError) if the stream fails. */
  read(): Promise<string | null>
  /** The complete answer, once `read()` returned null. */
  readonly result: ChatResult | undefined
  /** Stops the stream and aborts the upstream request; safe to call any time, more than once. */
  cancel(): void
}

/**
 * Wraps an upstream SSE body. `ctrl` is the call's controller (its signal aborts the body read);
 * `settle(undefined)` is called once on success, `settle(err)` once on failure and returns the
 * error readers should see from then on.
 *
 * @example
 * ```ts
 * const stream = readChatStream(body, model, call.ctrl, (err) => settle(call, err))
 * ```
 */
export function readChatStream(
  body: ReadableStream<Uint8Array>,
  model: string,
  ctrl: AbortController,
  settle: (err: unknown) => unknown,
): ChatStream {
  const events = sseData(body)
  let content = ''
  let usage: Usage | null = null
  let answeredModel = model
  let result: ChatResult | undefined
  let finished = false
  let ended = false
  let failure: unknown
  // Ends the call exactly once; returns the error a reader should see (the first one, mapped).
  const end = (err: unknown): unknown => {
    if (ended) return failure
    ended = true
    // Stops the body read if it is still going (an upstream that keeps sending after an error).
    void events.return(undefined).catch(() => {})
    failure = settle(err)
    return failure
  }
  // A stream nobody reads any more (client gone before the next pull, or LLM_TIMEOUT) must still
  // give back its permit: the abort ends the call even when no read() is pending.
  const signal = ctrl.signal
  if (signal.aborted) end(signal.reason)
  else signal.addEventListener('abort', () => end(signal.reason), { once: true })

  const read = async (): Promise<string | null> => {
    if (ended) {
      if (failure !== undefined) throw failure
      return null
    }
    try {
      for (;;) {
        let step: IteratorResult<string>
        try {
          step = await events.next()
        } catch (err) {
          throw new UpstreamFailure('The connection to the LLM upstream broke in the middle of its stream', 0, false, undefined, err, true)
        }
        if (step.done || step.value === '[DONE]') {
          if (step.done && !finished) throw new UpstreamFailure('The LLM upstream ended its stream before the answer was complete', 0, false, undefined, undefined, true)
          result = { content, model: answeredModel, usage, cached: false }
          end(undefined)
          return null
        }
        const chunk = parseChunk(step.value)
        if (chunk.usage !== null) usage = chunk.usage
        if (chunk.model !== undefined) answeredModel = chunk.model
        if (chunk.finished) finished = true
        if (chunk.content !== '') {
          content += chunk.content
          return chunk.content
        }
      }
    } catch (err) {
      throw end(err)
    }
  }

  return {
    model,
    read,
    get result() {
      return result
    },
    cancel: () => {
      if (!ended) ctrl.abort(new AppError('client_closed', 'The stream was cancelled'))
    },
  }
}
