import { describe, expect, test } from 'bun:test'
import zlib from 'node:zlib'
import { createExecutor } from '../../src/tasks/execute.ts'
import { COMPRESS_FORMATS, HAS_ZSTD, compress, decompress } from '../../src/tasks/compress.ts'
import { MAX_PAYLOAD_BYTES } from '../../src/tasks/payload.ts'
import type { TaskDefinition } from '../../src/tasks/types.ts'
import { AppError } from '../../src/errors.ts'
import { testContext } from './support.ts'

const exec = createExecutor([compress as TaskDefinition, decompress as TaskDefinition])
type Out = { format: string; inputBytes?: number; outputBytes: number; bytes?: string; text?: string }
const run = (name: string, input: unknown) => exec.run(name, JSON.stringify(input), testContext()) as Out
const failure = (name: string, input: unknown): AppError => {
  try { run(name, input) } catch (e) { return e as AppError }
  throw new Error('expected a failure')
}

describe('compress and decompress tasks', () => {
  test('zstd is offered exactly when this Bun has it', () => {
    expect(COMPRESS_FORMATS.includes('zstd')).toBe(HAS_ZSTD)
    expect(COMPRESS_FORMATS).toContain('gzip')
    expect(COMPRESS_FORMATS).toContain('deflate')
  })

  test('random payloads of random sizes round-trip through every format and level', () => {
    for (let i = 0; i < 60; i++) {
      // Half random (incompressible), half repetitive, from 0 bytes up to ~200 KiB.
      const size = Math.floor(Math.random() ** 3 * 200_000)
      const data = i % 2 ? crypto.getRandomValues(new Uint8Array(size)) : new Uint8Array(size).map((_, k) => k % 7)
      for (const format of COMPRESS_FORMATS) {
        const level = i % 3 === 0 ? undefined : 1 + (i % 9)
        const c = run('compress', level === undefined ? { format, bytes: data.toBase64() } : { format, bytes: data.toBase64(), level })
        expect(c.inputBytes).toBe(size)
        expect(c.outputBytes).toBe(Uint8Array.fromBase64(c.bytes as string).length)
        const d = run('decompress', { format, bytes: c.bytes })
        expect(d.outputBytes).toBe(size)
        expect(Uint8Array.fromBase64(d.bytes as string)).toEqual(data)
      }
    }
  })

  test('text in, text out; gzip output is readable by node:zlib', () => {
    const text = 'hello ✓ '.repeat(100)
    const c = run('compress', { format: 'gzip', text })
    expect(c.outputBytes).toBeLessThan(c.inputBytes as number)
    expect(zlib.gunzipSync(Uint8Array.fromBase64(c.bytes as string)).toString()).toBe(text)
    expect(run('decompress', { format: 'gzip', bytes: c.bytes, as: 'text' }).text).toBe(text)
  })

  test('deflate is zlib-wrapped (HTTP Content-Encoding: deflate)', () => {
    const c = run('compress', { format: 'deflate', text: 'abcabcabc' })
    expect(zlib.inflateSync(Uint8Array.fromBase64(c.bytes as string)).toString()).toBe('abcabcabc')
  })

  test('corrupt data, a wrong format and non-UTF-8 text output are invalid_input, never a crash', () => {
    expect(failure('decompress', { format: 'gzip', bytes: 'aGVsbG8=' }).code).toBe('invalid_input')
    const gz = run('compress', { format: 'gzip', text: 'x' }).bytes
    expect(failure('decompress', { format: 'deflate', bytes: gz }).code).toBe('invalid_input')
    const binary = run('compress', { format: 'gzip', bytes: new Uint8Array([0xff, 0xfe, 0x80]).toBase64() }).bytes
    expect(failure('decompress', { format: 'gzip', bytes: binary, as: 'text' }).details).toEqual([{ path: '/as', message: 'The output is not valid UTF-8' }])
    expect(failure('compress', { format: 'brotli', text: 'x' }).code).toBe('invalid_input')
    expect(failure('compress', { format: 'gzip', text: 'x', level: 12 }).code).toBe('invalid_input')
  })

  test('a decompression bomb is stopped at the output cap', () => {
    const bomb = zlib.gzipSync(new Uint8Array(MAX_PAYLOAD_BYTES + 1)).toBase64()
    const err = failure('decompress', { format: 'gzip', bytes: bomb })
    expect(err.code).toBe('invalid_input')
    expect(err.message).toContain('more than')
  })
})
