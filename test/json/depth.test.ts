/**
 * The depth scan of src/json/depth.ts: exact on valid JSON (brackets inside strings, escaped
 * quotes and runs of backslashes do not fool it), refuses at the first level past the limit, and
 * agrees with the depth of the value JSON.parse builds on random documents.
 */
import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { MAX_JSON_DEPTH, jsonDepthExceeds, parseBoundedJson } from '../../src/json/depth.ts'

/** Depth of a parsed value: 0 for a scalar, 1 for `[]` or `{}`. Iterative, so deep values are fine. */
function depthOf(value: unknown): number {
  let max = 0
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    max = Math.max(max, d + 1)
    for (const child of Object.values(v)) stack.push([child, d + 1])
  }
  return max
}

function randomString(rand: () => number): string {
  const alphabet = ['[', ']', '{', '}', '"', '\\', 'a', ' ', ',', ':', 'é', '\n', '\u0000']
  let s = ''
  for (let i = Math.floor(rand() * 8); i > 0; i--) s += alphabet[Math.floor(rand() * alphabet.length)]
  return s
}

function randomValue(rand: () => number, depth: number): unknown {
  if (depth === 0 || rand() < 0.2) {
    const r = rand()
    return r < 0.4 ? randomString(rand) : r < 0.7 ? Math.floor(rand() * 1000) : r < 0.85 ? null : true
  }
  const n = 1 + Math.floor(rand() * 3)
  if (rand() < 0.5) return Array.from({ length: n }, () => randomValue(rand, depth - 1))
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`${randomString(rand)}${i}`, randomValue(rand, depth - 1)]))
}

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('jsonDepthExceeds', () => {
  test('counts arrays and objects, allows exactly the limit and refuses one more', () => {
    expect(jsonDepthExceeds('1', 0)).toBe(false)
    expect(jsonDepthExceeds('[]', 0)).toBe(true)
    expect(jsonDepthExceeds('[]', 1)).toBe(false)
    expect(jsonDepthExceeds('[' + '{"a":'.repeat(63) + '1' + '}'.repeat(63) + ']', 64)).toBe(false)
    expect(jsonDepthExceeds('[' + '{"a":'.repeat(64) + '1' + '}'.repeat(64) + ']', 64)).toBe(true)
    expect(jsonDepthExceeds('[[],[],[[]]]', 2)).toBe(true)
    expect(jsonDepthExceeds('[[],[],[[]]]', 3)).toBe(false)
  })

  test('brackets inside strings do not count, whatever the escapes around them', () => {
    expect(jsonDepthExceeds('["[[[[[[[[[["]', 1)).toBe(false)
    expect(jsonDepthExceeds('["\\"[[[[[[[[", 1]', 1)).toBe(false)
    // `\\` ends in a backslash, so the quote after it closes the string: the brackets count.
    expect(jsonDepthExceeds('["\\\\", [[[[1]]]]]', 4)).toBe(true)
    expect(jsonDepthExceeds('["\\\\\\"[[[[", 1]', 1)).toBe(false)
    expect(jsonDepthExceeds('{"k[[[[":"v{{{{"}', 1)).toBe(false)
  })

  test('only the four ASCII brackets count: look-alikes (U+015B, U+017B, fullwidth) do not', () => {
    // Outside strings these make invalid JSON, but the scan must not count them either way.
    expect(jsonDepthExceeds('\u015b\u017b\uff3b\uff5b\u035b', 0)).toBe(false)
    expect(jsonDepthExceeds('[\u015d]', 1)).toBe(false)
  })

  test('stops at the first level past the limit, without reading the rest', () => {
    // The tail is not JSON at all: only the first 65 brackets are ever looked at.
    expect(jsonDepthExceeds('['.repeat(65) + '"unterminated', 64)).toBe(true)
    expect(jsonDepthExceeds('['.repeat(2_000_000), 64)).toBe(true)
  })

  test('agrees with the depth of the parsed value on 2 000 random documents', () => {
    const rand = prng(11)
    for (let i = 0; i < 2000; i++) {
      const value = randomValue(rand, 1 + Math.floor(rand() * 8))
      const text = JSON.stringify(value, null, rand() < 0.3 ? 1 : undefined)
      const d = depthOf(JSON.parse(text))
      expect({ text, over: jsonDepthExceeds(text, d) }).toEqual({ text, over: false })
      if (d > 0) expect({ text, over: jsonDepthExceeds(text, d - 1) }).toEqual({ text, over: true })
    }
  })

  test('an unterminated string is not "too deep" (JSON.parse reports it)', () => {
    expect(jsonDepthExceeds('["abc', 64)).toBe(false)
    expect(() => parseBoundedJson('["abc')).toThrow(SyntaxError)
  })
})

describe('parseBoundedJson', () => {
  test(`parses documents up to ${MAX_JSON_DEPTH} levels`, () => {
    const ok = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)
    expect(depthOf(parseBoundedJson(ok))).toBe(MAX_JSON_DEPTH)
    expect(parseBoundedJson('{"a":[1,"[["]}')).toEqual({ a: [1, '[['] })
  })

  test('refuses deeper documents with too_deep (422) naming the limit and the input', () => {
    let err: unknown
    try {
      parseBoundedJson('['.repeat(50_000) + ']'.repeat(50_000), MAX_JSON_DEPTH, 'the request body')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AppError)
    const app = err as AppError
    expect(app.code).toBe('too_deep')
    expect(app.status).toBe(422)
    expect(app.message).toBe(`JSON nesting deeper than ${MAX_JSON_DEPTH} levels in the request body`)
    expect(app.details).toEqual([{ path: '/', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }])
  })

  test('text that is not JSON is JSON.parse\'s SyntaxError, left to the caller to name', () => {
    expect(() => parseBoundedJson('{nope}')).toThrow(SyntaxError)
    expect(() => parseBoundedJson('')).toThrow(SyntaxError)
  })
})
