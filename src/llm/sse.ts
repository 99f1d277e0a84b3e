/**
 * Reading the upstream's Server-Sent Events: its token stream (`data: {...}` events ending with
 * `data: [DONE]`, as OpenAI and Ollama send them). highperf's own SSE answers are written by
 * src/http/sse.ts.
 *
 * @example
 * ```ts
 * for await (const data of sseData(res.body!)) if (data !== '[DONE]') handle(JSON.parse(data))
 * ```
 */

/**
 * Yields the `data` of every event of an SSE byte stream, in order: the `data:` lines of one event
 * joined by "\n" (the SSE rule), comments and other fields skipped, CRLF and LF both accepted.
 * An event cut off by the end of the stream is dropped (it was never complete). A read error
 * (connection dropped) propagates to the caller.
 *
 * @example
 * ```ts
 * for await (const data of sseData(res.body!)) console.log(data) // '{"choices":[...]}', …, '[DONE]'
 * ```
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true })
    if (buffer.includes('\r')) buffer = buffer.replace(/\r\n?/g, '\n')
    let end: number
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = dataOf(block)
      if (data !== undefined) yield data
    }
  }
}

/** The joined `data:` lines of one event block, or undefined when it has none. */
function dataOf(block: string): string | undefined {
  let data: string | undefined
  for (const line of block.split('\n')) {
    if (!line.startsWith('data')) continue
    let value: string
    if (line === 'data') value = ''
    else if (line.startsWith('data:')) value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5)
    else continue
    data = data === undefined ? value : `${data}\n${value}`
  }
  return data
}
