import { describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { createExecutor } from '../../src/tasks/execute.ts'
import { hash } from '../../src/tasks/hash.ts'
import type { TaskDefinition } from '../../src/tasks/types.ts'
import { AppError } from '../../src/errors.ts'
import { testContext } from './support.ts'

const exec = createExecutor([hash as TaskDefinition])
const run = (input: unknown) => exec.run('hash', JSON.stringify(input), testContext()) as { algorithm: string; encoding: string; length: number; digest: string }
const failure = (input: unknown): AppError => {
  try { run(input) } catch (e) { return e as AppError }
  throw new Error('expected a failure')
}

describe('hash task', () => {
  test('sha256 of text as hex by default (known vector)', () => {
    expect(run({ text: 'hello' })).toEqual({
      algorithm: 'sha256', encoding: 'hex', length: 5,
      digest: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    })
  })

  test('every algorithm matches node:crypto on random bytes, hex and base64', () => {
    const nodeName: Record<string, string> = { sha256: 'sha256', sha512: 'sha512', blake2b512: 'blake2b512' }
    for (let i = 0; i < 50; i++) {
      const data = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 5000)))
      for (const algorithm of ['sha256', 'sha512', 'blake2b512'] as const) {
        const expected = createHash(nodeName[algorithm] as string).update(data)
        const r = run({ bytes: data.toBase64(), algorithm, encoding: i % 2 ? 'hex' : 'base64' })
        expect(r.length).toBe(data.length)
        expect(r.digest).toBe(expected.digest(i % 2 ? 'hex' : 'base64'))
      }
    }
  })

  test('blake2b256 gives a 32-byte digest distinct from sha256', () => {
    const r = run({ text: 'abc', algorithm: 'blake2b256' })
    expect(r.digest).toHaveLength(64)
    expect(r.digest).toBe(new Bun.CryptoHasher('blake2b256').update('abc').digest('hex'))
    expect(r.digest).not.toBe(run({ text: 'abc' }).digest)
  })

  test('text and bytes of the same UTF-8 agree', () => {
    const text = 'héllo wörld ✓'
    expect(run({ text }).digest).toBe(run({ bytes: new TextEncoder().encode(text).toBase64() }).digest)
  })

  test('exactly one of text or bytes: both or neither is invalid_input', () => {
    expect(failure({ text: 'a', bytes: 'YQ==' }).code).toBe('invalid_input')
    expect(failure({}).code).toBe('invalid_input')
  })

  test('an unknown algorithm or malformed base64 is invalid_input with the failing path', () => {
    const bad = failure({ text: 'a', algorithm: 'md5' })
    expect(bad.code).toBe('invalid_input')
    expect(JSON.stringify(bad.details)).toContain('/algorithm')
    expect(failure({ bytes: 'not base64!' }).details?.[0]?.path).toBe('/bytes')
    expect(failure({ bytes: 'a' }).code).toBe('invalid_input')
  })
})
