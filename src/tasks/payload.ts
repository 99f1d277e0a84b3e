/**
 * Shared input shape of tasks that take data: UTF-8 `text` or base64 `bytes`, exactly one of them.
 * Not a task itself; `hash` and `compress` use it.
 *
 * @example
 * ```ts
 * const data = payloadBytes({ text: 'hi' }, 'hash') // Uint8Array [104, 105]
 * ```
 */
import { Type } from '@sinclair/typebox'
import { AppError } from '../errors.ts'

/** Largest payload a data task accepts, in bytes (decoded): bounds a worker's time and memory. */
export const MAX_PAYLOAD_BYTES = 8 * 1024 * 1024

/** Base64 text (standard alphabet, padding optional), at most {@link MAX_PAYLOAD_BYTES} decoded. */
export const Base64 = Type.String({
  maxLength: Math.ceil(MAX_PAYLOAD_BYTES / 3) * 4,
  pattern: '^[A-Za-z0-9+/]*={0,2}$',
  description: 'Base64 (standard alphabet)',
  examples: ['aGVsbG8='],
})

/** The `text` / `bytes` pair; the handler checks that exactly one is present. */
export const PayloadFields = {
  text: Type.Optional(Type.String({ maxLength: MAX_PAYLOAD_BYTES, description: 'UTF-8 text', examples: ['hello'] })),
  bytes: Type.Optional(Base64),
}

const encoder = new TextEncoder()

/**
 * Decodes base64 strictly: a malformed string is a 422, never silently truncated data.
 *
 * @example decodeBase64('aGk=', 'hash') // Uint8Array [104, 105]
 */
export function decodeBase64(b64: string, task: string, path = '/bytes'): Uint8Array {
  try {
    return Uint8Array.fromBase64(b64)
  } catch {
    throw new AppError('invalid_input', `Invalid input for task '${task}': ${path} is not valid base64`, {
      details: [{ path, message: 'Expected valid base64' }],
    })
  }
}

/**
 * The bytes of a payload: `text` as UTF-8 or `bytes` decoded. Exactly one must be given.
 *
 * @example payloadBytes({ bytes: 'aGk=' }, 'hash') // Uint8Array [104, 105]
 */
export function payloadBytes(input: { text?: string; bytes?: string }, task: string): Uint8Array {
  const hasText = input.text !== undefined
  const hasBytes = input.bytes !== undefined
  if (hasText === hasBytes) {
    throw new AppError('invalid_input', `Invalid input for task '${task}': give exactly one of text or bytes`, {
      details: [{ path: '/', message: 'Expected exactly one of text or bytes' }],
    })
  }
  if (hasText) return encoder.encode(input.text)
  const out = decodeBase64(input.bytes as string, task)
  if (out.length > MAX_PAYLOAD_BYTES) {
    throw new AppError('invalid_input', `Invalid input for task '${task}': /bytes decodes to more than ${MAX_PAYLOAD_BYTES} bytes`, {
      details: [{ path: '/bytes', message: `Expected at most ${MAX_PAYLOAD_BYTES} bytes` }],
    })
  }
  return out
}
