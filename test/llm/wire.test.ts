import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { parseChunk, parseCompletion, requestBody, usageOf } from '../../src/llm/wire.ts'

function badResponse(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('upstream_bad_response')
    return (err as AppError).message
  }
  throw new Error('expected upstream_bad_response')
}

describe('requestBody', () => {
  test('is JSON.parse-able for any input and carries it exactly', () => {
    for (const input of ['"', '\\', '\n', '"}]}', '\u0000', '😀', `${'"'.repeat(1000)}`]) {
      const parsed = JSON.parse(requestBody('m', { input, system: input }, false)) as { messages: Array<{ content: string }> }
      expect(parsed.messages.map((m) => m.content)).toEqual([input, input])
    }
  })

  test('asks streams for a usage chunk', () => {
    expect(JSON.parse(requestBody('m', { input: 'x', temperature: 0 }, true))).toEqual({
      model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 0, stream: true, stream_options: { include_usage: true },
    })
  })
})

describe('parseCompletion', () => {
  test('reads content, model and usage', () => {
    expect(parseCompletion('{"model":"x-2","choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}', 'x')).toEqual({
      content: 'hi', model: 'x-2', usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 }, cached: false,
    })
  })

  test('falls back to the model asked for and null usage', () => {
    expect(parseCompletion('{"choices":[{"message":{"content":""}}]}', 'asked')).toEqual({ content: '', model: 'asked', usage: null, cached: false })
  })

  test.each([
    ['not JSON', '{"choices":['],
    ['an array', '[]'],
    ['null', 'null'],
    ['no choices', '{}'],
    ['empty choices', '{"choices":[]}'],
    ['choices not an array', '{"choices":{"0":{}}}'],
    ['a null choice', '{"choices":[null]}'],
    ['no message', '{"choices":[{}]}'],
    ['null content', '{"choices":[{"message":{"content":null}}]}'],
    ['numeric content', '{"choices":[{"message":{"content":5}}]}'],
  ])('%s is upstream_bad_response', (_name, text) => {
    badResponse(() => parseCompletion(text, 'm'))
  })
})

describe('parseChunk', () => {
  test('reads a delta, the finish and the usage chunk with empty choices', () => {
    expect(parseChunk('{"choices":[{"delta":{"content":"He"}}]}')).toEqual({ content: 'He', finished: false, usage: null, model: undefined })
    expect(parseChunk('{"model":"m","choices":[{"delta":{},"finish_reason":"stop"}]}')).toEqual({ content: '', finished: true, usage: null, model: 'm' })
    expect(parseChunk('{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}').usage).toEqual({ promptTokens: 2, completionTokens: 3, totalTokens: 5 })
  })

  test('malformed events and in-stream errors are upstream_bad_response', () => {
    badResponse(() => parseChunk('{"choices":'))
    badResponse(() => parseChunk('"text"'))
    badResponse(() => parseChunk('{"error":{"message":"overloaded"}}'))
  })
})

describe('usageOf', () => {
  test('ignores junk and never yields negative or fractional counts', () => {
    expect(usageOf(null)).toBeNull()
    expect(usageOf('x')).toBeNull()
    expect(usageOf({ prompt_tokens: -1, completion_tokens: 2.7, total_tokens: 'x' })).toEqual({ promptTokens: 0, completionTokens: 2, totalTokens: 2 })
  })
})
