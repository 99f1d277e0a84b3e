/**
 * `compress` and `decompress`: gzip, deflate (zlib-wrapped, as HTTP's `Content-Encoding: deflate`)
 * and zstd when this Bun has it. Input is UTF-8 `text` or base64 `bytes`; compressed data travels
 * as base64. Decompression is capped at {@link MAX_PAYLOAD_BYTES} of output so a small "zip bomb"
 * cannot fill a worker's memory: past the cap the task fails with `invalid_input`.
 *
 * @example
 * POST /tasks/compress {"format":"gzip","text":"hello hello hello"} -> {"format":"gzip","inputBytes":17,"outputBytes":25,"bytes":"H4sI..."}
 * POST /tasks/decompress {"format":"gzip","bytes":"H4sI...","as":"text"} -> {"format":"gzip","outputBytes":17,"text":"hello hello hello"}
 */
import type * as Zlib from 'node:zlib'
import { Type } from '@sinclair/typebox'
import { AppError } from '../errors.ts'
import { defineTask } from './types.ts'
import { Base64, MAX_PAYLOAD_BYTES, PayloadFields, decodeBase64, payloadBytes } from './payload.ts'

// node:zlib takes ~9 ms to load (bench/startup): every worker would pay it at start, competing with
// the server's first answers on a small machine. It is loaded on the first (de)compression instead.
let zlibModule: typeof Zlib | undefined
function zlib(): typeof Zlib {
  return (zlibModule ??= require('node:zlib') as typeof Zlib)
}

/** True when this Bun build has zstd (Bun.zstdCompressSync and its decompressor, since Bun 1.2.x). */
export const HAS_ZSTD = typeof Bun.zstdCompressSync === 'function' && typeof Bun.zstdDecompressSync === 'function'

/** The formats offered by this build. */
export const COMPRESS_FORMATS: readonly string[] = HAS_ZSTD ? ['gzip', 'deflate', 'zstd'] : ['gzip', 'deflate']

const Format = Type.Union(COMPRESS_FORMATS.map((f) => Type.Literal(f)), { description: 'Compression format' })

function compressBytes(format: string, data: Uint8Array, level: number | undefined): Uint8Array {
  switch (format) {
    case 'gzip':
      return zlib().gzipSync(data, level === undefined ? {} : { level })
    case 'deflate':
      return zlib().deflateSync(data, level === undefined ? {} : { level })
    default:
      return Bun.zstdCompressSync(data, level === undefined ? {} : { level })
  }
}

function decompressBytes(format: string, data: Uint8Array): Uint8Array {
  const options = { maxOutputLength: MAX_PAYLOAD_BYTES }
  try {
    switch (format) {
      case 'gzip':
        return zlib().gunzipSync(data, options)
      case 'deflate':
        return zlib().inflateSync(data, options)
      default:
        return zlib().zstdDecompressSync(data, options)
    }
  } catch (err) {
    const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
    const message = tooLarge ? `decompresses to more than ${MAX_PAYLOAD_BYTES} bytes` : `is not valid ${format} data`
    throw new AppError('invalid_input', `Invalid input for task 'decompress': /bytes ${message}`, {
      details: [{ path: '/bytes', message: tooLarge ? `Expected at most ${MAX_PAYLOAD_BYTES} bytes of output` : `Expected ${format} data` }],
    })
  }
}

export const compress = defineTask({
  name: 'compress',
  summary: `Compresses text or base64 bytes (${COMPRESS_FORMATS.join(', ')}); the result is base64`,
  input: Type.Object(
    {
      format: Format,
      ...PayloadFields,
      level: Type.Optional(Type.Integer({ minimum: 1, maximum: 19, description: 'gzip/deflate 1-9, zstd 1-19' })),
    },
    { additionalProperties: false },
  ),
  example: { format: 'gzip', text: 'hello hello hello hello' },
  handler(input) {
    const data = payloadBytes(input, 'compress')
    if (input.level !== undefined && input.format !== 'zstd' && input.level > 9) {
      throw new AppError('invalid_input', `Invalid input for task 'compress': /level must be 1-9 for ${input.format}`, {
        details: [{ path: '/level', message: 'Expected an integer from 1 to 9' }],
      })
    }
    const out = compressBytes(input.format, data, input.level)
    return { format: input.format, inputBytes: data.length, outputBytes: out.length, bytes: out.toBase64() }
  },
})

const utf8 = new TextDecoder('utf-8', { fatal: true })

export const decompress = defineTask({
  name: 'decompress',
  summary: `Decompresses base64 bytes (${COMPRESS_FORMATS.join(', ')}) to text or base64`,
  input: Type.Object(
    {
      format: Format,
      bytes: Base64,
      as: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('base64')], { default: 'base64', description: 'How to return the output' })),
    },
    { additionalProperties: false },
  ),
  example: { format: 'gzip', bytes: 'H4sIAAAAAAAAA8tIzcnJV8hAkACAiPnlEQAAAA==', as: 'text' },
  handler(input) {
    const out = decompressBytes(input.format, decodeBase64(input.bytes, 'decompress'))
    if (input.as === 'text') {
      let text: string
      try {
        text = utf8.decode(out)
      } catch {
        throw new AppError('invalid_input', "Invalid input for task 'decompress': the output is not UTF-8 text; ask for as=base64", {
          details: [{ path: '/as', message: 'The output is not valid UTF-8' }],
        })
      }
      return { format: input.format, outputBytes: out.length, text }
    }
    return { format: input.format, outputBytes: out.length, bytes: out.toBase64() }
  },
})
