/**
 * The one Server-Sent Events writer: the response headers and the frames every SSE answer of
 * highperf sends (`GET /jobs/:id/events`, `POST /messages` with `"stream": true`). Reading an
 * upstream's SSE is the LLM client's business (src/llm/sse.ts).
 *
 * Frames follow the HTML living standard's event-stream format: `event:` and `data:` lines, a
 * blank line to end the event; `retry:` tells `EventSource` how long to wait before reconnecting;
 * a line starting with `:` is a comment, which clients ignore (a heartbeat).
 *
 * @example
 * ```ts
 * const body = new ReadableStream({ start(c) { c.enqueue(sseFrame('delta', { content: 'Hi' })); c.close() } })
 * return new Response(body, { headers: SSE_HEADERS })
 * // event: delta
 * // data: {"content":"Hi"}
 * ```
 */

const encoder = new TextEncoder()

/**
 * Headers of every SSE answer. `no-transform` and `X-Accel-Buffering: no` keep proxies (nginx
 * buffers by default) from holding events back until the buffer fills.
 *
 * @example new Response(stream, { headers: { ...SSE_HEADERS, 'x-request-id': id } })
 */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
}

/**
 * One event whose data is `data` as JSON: `event: <event>\ndata: <json>\n\n`, encoded.
 * `JSON.stringify` never writes a raw line break, so one `data:` line always suffices.
 *
 * @example sseFrame('delta', { content: 'Hi' }) // "event: delta\ndata: {\"content\":\"Hi\"}\n\n"
 */
export function sseFrame(event: string, data: unknown): Uint8Array {
  return sseJsonFrame(event, JSON.stringify(data))
}

/**
 * One event whose data is `json`, JSON text already written (spliced, not re-serialised). A line
 * break in it (JSON allows them between tokens) starts another `data:` line: a client joins the
 * lines with "\n", which reads back as the same JSON value.
 *
 * @example sseJsonFrame('state', '{"id":"a"}') // "event: state\ndata: {\"id\":\"a\"}\n\n"
 */
export function sseJsonFrame(event: string, json: string): Uint8Array {
  const data = json.includes('\n') || json.includes('\r') ? json.split(/\r\n|\r|\n/).join('\ndata: ') : json
  return encoder.encode(`event: ${event}\ndata: ${data}\n\n`)
}

/**
 * A comment line: clients ignore it; it keeps proxies and idle timeouts from closing a quiet
 * stream.
 *
 * @example sseComment('hb') // ": hb\n\n"
 */
export function sseComment(text: string): Uint8Array {
  return encoder.encode(`: ${text}\n\n`)
}

/**
 * The reconnection delay an `EventSource` uses after the stream ends or drops.
 *
 * @example sseRetry(1000) // "retry: 1000\n\n"
 */
export function sseRetry(ms: number): Uint8Array {
  return encoder.encode(`retry: ${Math.max(0, Math.floor(ms))}\n\n`)
}
