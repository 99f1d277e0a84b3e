/**
 * The SSE writer (src/http/sse.ts). Frames are read back with the LLM client's reader, so what
 * highperf writes is what an SSE client parses.
 */
import { describe, expect, test } from 'bun:test'
import { SSE_HEADERS, sseComment, sseFrame, sseJsonFrame, sseRetry } from '../../src/http/sse.ts'
import { sseData } from '../../src/llm/sse.ts'

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

async function readBack(...frames: Uint8Array[]): Promise<string[]> {
  const out: string[] = []
  for await (const d of sseData(new Blob(frames as Uint8Array<ArrayBuffer>[]).stream())) out.push(d)
  return out
}

describe('sseFrame', () => {
  test('writes one event with JSON data on one line', () => {
    expect(new TextDecoder().decode(sseFrame('delta', { content: 'a\nb' }))).toBe('event: delta\ndata: {"content":"a\\nb"}\n\n')
  })
})

describe('sseJsonFrame', () => {
  test('splices JSON text as it is: no parse, no re-serialisation', () => {
    expect(text(sseJsonFrame('state', '{"b":2,"a":[1 ,2]}'))).toBe('event: state\ndata: {"b":2,"a":[1 ,2]}\n\n')
  })

  test('JSON text with line breaks between tokens becomes several data lines that read back as the same value', async () => {
    const json = '{\n  "a": 1,\r\n  "b": [\r2]\n}'
    const frame = text(sseJsonFrame('state', json))
    expect(frame).toBe('event: state\ndata: {\ndata:   "a": 1,\ndata:   "b": [\ndata: 2]\ndata: }\n\n')
    const [data] = await readBack(sseJsonFrame('state', json))
    expect(JSON.parse(data!)).toEqual(JSON.parse(json))
  })

  test('an event never ends early: a blank line inside the JSON text does not cut it', async () => {
    expect(await readBack(sseJsonFrame('x', '[1,\n\n2]'), sseFrame('y', 3))).toEqual(['[1,\n\n2]', '3'])
  })
})

describe('comments, retry and headers', () => {
  test('a comment and a retry carry no data: a reader skips them', async () => {
    expect(text(sseComment('hb'))).toBe(': hb\n\n')
    expect(text(sseRetry(1000))).toBe('retry: 1000\n\n')
    expect(await readBack(sseRetry(1000), sseComment('hb'), sseFrame('x', 1))).toEqual(['1'])
  })

  test('the headers name the event-stream type and keep proxies from buffering', () => {
    expect(SSE_HEADERS['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(SSE_HEADERS['cache-control']).toBe('no-cache, no-transform')
    expect(SSE_HEADERS['x-accel-buffering']).toBe('no')
  })
})
