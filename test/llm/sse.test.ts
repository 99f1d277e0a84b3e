import { describe, expect, test } from 'bun:test'
import { sseData } from '../../src/llm/sse.ts'

function streamOf(text: string, cuts: number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  const pieces: Uint8Array[] = []
  let at = 0
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c > at && c < bytes.length) {
      pieces.push(bytes.slice(at, c))
      at = c
    }
  }
  pieces.push(bytes.slice(at))
  return new ReadableStream({ pull(ctrl) { const p = pieces.shift(); if (p) ctrl.enqueue(p); else ctrl.close() } })
}

async function collect(s: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = []
  for await (const d of sseData(s)) out.push(d)
  return out
}

describe('sseData', () => {
  test('yields each event\'s data, skipping comments and other fields', async () => {
    const text = ': keep-alive\n\nevent: x\nid: 1\ndata: {"a":1}\n\ndata:{"b":2}\n\nretry: 10\n\ndata: [DONE]\n\n'
    expect(await collect(streamOf(text, []))).toEqual(['{"a":1}', '{"b":2}', '[DONE]'])
  })

  test('joins multi-line data with newlines and accepts CRLF', async () => {
    expect(await collect(streamOf('data: one\r\ndata: two\r\n\r\ndata\r\n\r\n', []))).toEqual(['one\ntwo', ''])
  })

  test('drops an event cut off by the end of the stream', async () => {
    expect(await collect(streamOf('data: whole\n\ndata: half', []))).toEqual(['whole'])
  })

  test('random chunk boundaries (inside UTF-8 characters and CRLF pairs) never change the events', async () => {
    const events = Array.from({ length: 40 }, (_, i) => JSON.stringify({ i, text: `ñ😀 "q" ${'x'.repeat(i)}` }))
    for (const nl of ['\n', '\r\n']) {
      const text = events.map((e) => `data: ${e}${nl}${nl}`).join('') + `data: [DONE]${nl}${nl}`
      const size = new TextEncoder().encode(text).length
      let seed = 7
      const rand = () => ((seed = (seed * 48271) % 2147483647) / 2147483647)
      for (let round = 0; round < 50; round++) {
        const cuts = Array.from({ length: Math.floor(rand() * 60) }, () => Math.floor(rand() * size))
        expect(await collect(streamOf(text, cuts))).toEqual([...events, '[DONE]'])
      }
    }
  })

  test('a read error reaches the caller', async () => {
    const s = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('data: 1\n\n'))
        c.error(new Error('reset'))
      },
    })
    await expect(collect(s)).rejects.toThrow('reset')
  })
})
