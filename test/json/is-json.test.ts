import { describe, expect, test } from 'bun:test'
import { isJsonText } from '../../src/json/is-json.ts'

/** What JSON.parse says, the reference. */
function parses(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

describe('isJsonText', () => {
  test('agrees with JSON.parse on every kind of value and every kind of mistake', () => {
    const cases = [
      '0', '-0', '1', '-1.5', '1e3', '1E+3', '1.5e-3', '01', '1.', '.5', '-', '+1', '1e', '0x10', 'NaN', 'Infinity',
      'true', 'false', 'null', 'tru', 'nul', 'True', 'truex', 'null null',
      '""', '"a\\"b"', '"\\u00e9\\n\\t\\/"', '"\\x41"', '"\\u12"', '"\\u12G4"', '"a', '"tab\there"', `"${'\u0001'}"`, '"é😀"', "'a'",
      '[]', '[ ]', '[1,2]', '[1,]', '[,1]', '[1 2]', '[', ']', '[[]]', '[[]', '[]]',
      '{}', '{ }', '{"a":1}', '{"a":1,}', '{"a"}', '{"a":}', '{a:1}', '{"a":1 "b":2}', '{"a":1,"b":[{"c":null}]}', '{"a":1}}', '{1:2}',
      '', ' ', ' 1 ', '\n\t[1]\r\n', '1 2', '[1] [2]', '\uFEFF1', '{"a":[1,{"b":"}"}]}',
    ]
    for (const c of cases) expect([c, isJsonText(c)]).toEqual([c, parses(c)])
  })

  test('random texts from JSON-ish characters: the same answer as JSON.parse, every time', () => {
    const alphabet = ['{', '}', '[', ']', ',', ':', '"', '\\', 'a', '1', '0', '-', '.', 'e', ' ', 'true', 'null', '"k"', '"v"', 'u', '\n']
    let seed = 12345
    const rand = (k: number) => ((seed = (seed * 48271) % 2147483647) % k)
    let valid = 0
    for (let round = 0; round < 20_000; round++) {
      let text = ''
      const len = 1 + rand(12)
      for (let i = 0; i < len; i++) text += alphabet[rand(alphabet.length)]
      const want = parses(text)
      if (want) valid++
      expect([text, isJsonText(text)]).toEqual([text, want])
    }
    expect(valid).toBeGreaterThan(100) // the generator does reach valid documents
  })

  test('whatever JSON.stringify writes is JSON', () => {
    const values: unknown[] = [{ a: [1, 2.5, -3e-7, null, true, 'x"\\\n\u2028😀'] }, [], {}, 'é', 0, [[[{}]]], { '': { ' ': [''] } }]
    for (const v of values) expect(isJsonText(JSON.stringify(v))).toBe(true)
  })

  test('nesting a million deep is one linear scan: no recursion, no stack', () => {
    const depth = 1_000_000
    const t0 = performance.now()
    expect(isJsonText('['.repeat(depth) + ']'.repeat(depth))).toBe(true)
    expect(isJsonText('['.repeat(depth) + ']'.repeat(depth - 1))).toBe(false)
    expect(isJsonText('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))).toBe(true)
    expect(performance.now() - t0).toBeLessThan(5000) // generous: ~tens of ms on a quiet machine
  })
})
